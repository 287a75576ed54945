// pgJDBC against the medallion endpoint: connect, getTables, getColumns, a prepared statement.
// Run with Java's single-file launcher: java -cp postgresql.jar Probe.java URL USER PASSWORD
// Prints one line per fact; the test reads them.
import java.sql.*;

public class Probe {
    public static void main(String[] args) throws Exception {
        try (Connection con = DriverManager.getConnection(args[0], args[1], args[2])) {
            DatabaseMetaData meta = con.getMetaData();
            System.out.println("product " + meta.getDatabaseProductName() + " "
                + meta.getDatabaseProductVersion());
            try (ResultSet rs = meta.getTables(null, null, "%", new String[] {"TABLE"})) {
                while (rs.next()) {
                    System.out.println("table " + rs.getString("TABLE_SCHEM") + "."
                        + rs.getString("TABLE_NAME"));
                }
            }
            try (ResultSet rs = meta.getColumns(null, "silver", "orders", "%")) {
                while (rs.next()) {
                    System.out.println("column " + rs.getString("COLUMN_NAME") + " "
                        + rs.getString("TYPE_NAME") + " " + rs.getInt("DATA_TYPE"));
                }
            }
            try (PreparedStatement ps = con.prepareStatement(
                    "select order_id, customer, amount, ordered_at, paid from silver.orders "
                    + "where customer = ? and amount > ? order by order_id")) {
                ps.setString(1, "alice");
                ps.setBigDecimal(2, new java.math.BigDecimal("1.00"));
                for (int run = 0; run < 6; run++) {  // past prepareThreshold: a named statement
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            if (run == 5) {
                                System.out.println("row " + rs.getInt(1) + " " + rs.getString(2)
                                    + " " + rs.getBigDecimal(3) + " " + rs.getTimestamp(4)
                                    + " " + rs.getBoolean(5));
                            }
                        }
                    }
                }
            }
            try (Statement st = con.createStatement()) {
                st.executeUpdate("delete from silver.orders");
            } catch (SQLException e) {
                System.out.println("write " + e.getSQLState());
            }
        }
    }
}
