// pgJDBC's catalog as one user sees it: getSchemas, getTables (every type), and a read of the
// table named on the command line (its SQLSTATE when refused).
// Run with Java's single-file launcher: java -cp postgresql.jar Tables.java URL USER PASSWORD TABLE
import java.sql.*;

public class Tables {
    public static void main(String[] args) throws Exception {
        try (Connection con = DriverManager.getConnection(args[0], args[1], args[2])) {
            DatabaseMetaData meta = con.getMetaData();
            try (ResultSet rs = meta.getSchemas()) {
                while (rs.next()) {
                    System.out.println("schema " + rs.getString("TABLE_SCHEM"));
                }
            }
            try (ResultSet rs = meta.getTables(null, null, "%", null)) {
                while (rs.next()) {
                    System.out.println("table " + rs.getString("TABLE_SCHEM") + "."
                        + rs.getString("TABLE_NAME") + " " + rs.getString("TABLE_TYPE"));
                }
            }
            try (Statement st = con.createStatement();
                 ResultSet rs = st.executeQuery("select count(*) from " + args[3])) {
                rs.next();
                System.out.println("read " + rs.getLong(1));
            } catch (SQLException e) {
                System.out.println("refused " + e.getSQLState());
            }
        }
    }
}
