"""Fixed layout and vocabularies of the product-platform generator: the export files' columns,
what the manufacturer makes and from what, its customers, carriers and reasons.

Kept apart from `generate.py` so the generator's logic stays readable; nothing here is random.
"""

from __future__ import annotations

# file -> its columns, in order (CSV header, JSON keys, Parquet schema)
HEADERS: dict[str, tuple[str, ...]] = {
    "products.csv": (
        "product_id",
        "sku",
        "product_name",
        "category",
        "pack_size",
        "list_price",
        "standard_cost",
        "shelf_life_days",
        "launch_date",
        "status",
        "updated_at",
    ),
    "recipes.csv": (
        "recipe_id",
        "product_id",
        "recipe_name",
        "version",
        "batch_yield",
        "batch_minutes",
        "is_active",
        "effective_date",
    ),
    "recipe_lines.csv": (
        "recipe_line_id",
        "recipe_id",
        "line_number",
        "ingredient",
        "quantity",
        "uom",
        "unit_cost",
    ),
    "customers.csv": (
        "customer_id",
        "customer_name",
        "customer_type",
        "email",
        "phone",
        "city",
        "state",
        "country",
        "signup_date",
        "updated_at",
    ),
    "orders.json": (
        "order_id",
        "customer_id",
        "order_ts",
        "channel",
        "status",
        "payment_method",
        "promo_code",
        "updated_at",
    ),
    "order_lines.parquet": (
        "order_line_id",
        "order_id",
        "line_number",
        "product_id",
        "quantity",
        "unit_price",
        "discount_pct",
    ),
    "shipments.csv": (
        "shipment_id",
        "order_id",
        "carrier",
        "tracking_number",
        "shipped_date",
        "promised_date",
        "delivered_date",
        "status",
        "shipping_cost",
        "updated_at",
    ),
    "returns.csv": (
        "return_id",
        "order_line_id",
        "return_date",
        "quantity_returned",
        "return_reason",
        "refund_amount",
        "item_condition",
    ),
    "waste.csv": (
        "waste_id",
        "waste_date",
        "facility",
        "product_id",
        "batch_code",
        "waste_reason",
        "quantity",
        "waste_cost",
    ),
    "quality_inspections.json": (
        "inspection_id",
        "batch_code",
        "product_id",
        "inspected_at",
        "inspection_type",
        "inspector",
        "sample_size",
        "defects_found",
        "result",
    ),
}

# category -> (SKU prefix, price range in cents, pack sizes, product nouns, ingredient names).
# The ingredients are those a recipe of the category draws from (packaging is always added).
CATEGORIES: dict[
    str, tuple[str, tuple[int, int], tuple[str, ...], tuple[str, ...], tuple[str, ...]]
] = {
    "Bakery": (
        "BKY",
        (349, 899),
        ("400 g", "800 g", "4 x 70 g", "6 pack"),
        (
            "Sourdough Loaf",
            "Whole Wheat Bread",
            "Rye Bread",
            "Baguette",
            "Butter Croissants",
            "Cinnamon Rolls",
            "Blueberry Muffins",
            "Plain Bagels",
            "Brioche Buns",
            "Rosemary Focaccia",
            "Banana Bread",
        ),
        (
            "wheat flour",
            "rye flour",
            "sugar",
            "butter",
            "eggs",
            "whole milk",
            "salt",
            "yeast",
            "cinnamon",
            "blueberries",
            "bananas",
            "olive oil",
        ),
    ),
    "Snacks": (
        "SNK",
        (249, 699),
        ("150 g", "200 g", "5 x 40 g", "500 g"),
        (
            "Granola Bars",
            "Trail Mix",
            "Kettle Chips",
            "Pretzel Twists",
            "Oat Cookies",
            "Chocolate Chip Cookies",
            "Rice Crackers",
            "Protein Bites",
            "Dark Chocolate Almonds",
        ),
        (
            "oats",
            "honey",
            "almonds",
            "dark chocolate",
            "potatoes",
            "sunflower oil",
            "sea salt",
            "wheat flour",
            "sugar",
            "rice",
            "butter",
        ),
    ),
    "Beverages": (
        "BEV",
        (199, 549),
        ("330 ml", "500 ml", "1 l", "6 x 330 ml"),
        (
            "Cold Brew Coffee",
            "Iced Green Tea",
            "Sparkling Lemonade",
            "Ginger Kombucha",
            "Orange Juice",
            "Oat Milk Latte",
        ),
        (
            "coffee beans",
            "green tea leaves",
            "lemons",
            "cane sugar syrup",
            "ginger",
            "oranges",
            "oat milk",
            "filtered water",
        ),
    ),
    "Sauces": (
        "SAU",
        (299, 749),
        ("250 ml", "350 g", "500 g"),
        (
            "Tomato Basil Sauce",
            "Pesto Genovese",
            "Smoky BBQ Sauce",
            "Habanero Hot Sauce",
            "Salsa Verde",
            "Garlic Aioli",
            "Teriyaki Glaze",
        ),
        (
            "tomatoes",
            "basil",
            "garlic",
            "olive oil",
            "pine nuts",
            "chili peppers",
            "onions",
            "soy sauce",
            "sugar",
            "vinegar",
            "eggs",
        ),
    ),
    "Ready Meals": (
        "RDY",
        (599, 1299),
        ("350 g", "400 g", "2 x 350 g"),
        (
            "Chicken Curry",
            "Vegetable Lasagna",
            "Mac and Cheese",
            "Beef Chili",
            "Mushroom Risotto",
            "Pad Thai",
        ),
        (
            "chicken breast",
            "beef mince",
            "rice",
            "pasta",
            "cheddar",
            "mushrooms",
            "onions",
            "tomatoes",
            "cream",
            "rice noodles",
            "coconut milk",
        ),
    ),
    "Dairy": (
        "DRY",
        (249, 649),
        ("150 g", "500 g", "1 kg", "250 g"),
        (
            "Greek Yogurt",
            "Vanilla Yogurt",
            "Cheddar Spread",
            "Cream Cheese",
            "Salted Butter",
            "Plain Kefir",
        ),
        ("whole milk", "cream", "yogurt cultures", "vanilla extract", "sugar", "salt", "cheddar"),
    ),
}
CATEGORY_WEIGHTS = {
    "Bakery": 28,
    "Snacks": 22,
    "Beverages": 16,
    "Sauces": 14,
    "Ready Meals": 10,
    "Dairy": 10,
}
VARIANTS = ("Classic", "Organic", "Gluten-Free", "Family Size", "Vegan", "Spicy", "Honey", "Lite")

# ingredient -> (base unit: kg, l or each; cost per base unit in cents)
INGREDIENTS: dict[str, tuple[str, int]] = {
    "wheat flour": ("kg", 62),
    "rye flour": ("kg", 95),
    "sugar": ("kg", 88),
    "butter": ("kg", 750),
    "eggs": ("each", 26),
    "whole milk": ("l", 112),
    "salt": ("kg", 41),
    "sea salt": ("kg", 180),
    "yeast": ("kg", 610),
    "cinnamon": ("kg", 1450),
    "blueberries": ("kg", 980),
    "bananas": ("kg", 140),
    "olive oil": ("l", 820),
    "oats": ("kg", 150),
    "honey": ("kg", 810),
    "almonds": ("kg", 1120),
    "dark chocolate": ("kg", 1240),
    "potatoes": ("kg", 95),
    "sunflower oil": ("l", 240),
    "rice": ("kg", 180),
    "coffee beans": ("kg", 1850),
    "green tea leaves": ("kg", 3020),
    "lemons": ("each", 35),
    "cane sugar syrup": ("l", 250),
    "ginger": ("kg", 560),
    "oranges": ("each", 42),
    "oat milk": ("l", 165),
    "filtered water": ("l", 1),
    "tomatoes": ("kg", 220),
    "basil": ("kg", 2500),
    "garlic": ("kg", 600),
    "pine nuts": ("kg", 4200),
    "chili peppers": ("kg", 700),
    "onions": ("kg", 120),
    "soy sauce": ("l", 410),
    "vinegar": ("l", 160),
    "chicken breast": ("kg", 880),
    "beef mince": ("kg", 1010),
    "pasta": ("kg", 200),
    "cheddar": ("kg", 950),
    "mushrooms": ("kg", 600),
    "cream": ("l", 420),
    "rice noodles": ("kg", 330),
    "coconut milk": ("l", 380),
    "yogurt cultures": ("kg", 6000),
    "vanilla extract": ("l", 12000),
    "packaging": ("each", 14),
}
# how the ERP writes a quantity in a smaller unit, and the synonyms typed by hand
SMALL_UNIT = {"kg": "g", "l": "ml"}
UNIT_SYNONYMS = {
    "g": ("grams", "gr"),
    "kg": ("kgs",),
    "ml": ("millilitres",),
    "l": ("litre",),
    "each": ("pcs", "ea"),
}

# customer type -> (share of customers, ordering weight, channels, payment methods,
# quantity range per line, discount percentages to draw from)
CUSTOMER_TYPES: dict[
    str, tuple[int, int, tuple[str, ...], tuple[str, ...], tuple[int, int], tuple[int, ...]]
] = {
    "consumer": (
        70,
        1,
        ("web", "web", "mobile", "marketplace"),
        ("card", "card", "paypal", "gift_card"),
        (1, 3),
        (0, 0, 0, 0, 0, 0, 10, 15),
    ),
    "retailer": (15, 5, ("edi", "sales_rep"), ("invoice",), (6, 48), (5, 10)),
    "wholesale": (5, 9, ("edi",), ("invoice",), (24, 120), (10, 15, 20)),
    "food_service": (10, 3, ("sales_rep", "web"), ("invoice", "card"), (4, 30), (0, 5, 10)),
}
PROMO_CODES = ("SPRING10", "WELCOME15", "FREESHIP", "BAKERY5", "summer24")

CARRIERS = ("UPS", "FedEx", "USPS", "DHL")
B2B_CARRIERS = ("Freight", "UPS", "FedEx")
TRANSIT_DAYS = {"UPS": 3, "FedEx": 2, "USPS": 4, "DHL": 4, "Freight": 5}

RETURN_REASONS = {
    "Damaged in transit": 30,
    "Expired": 12,
    "Defective": 18,
    "Wrong item": 14,
    "Not as described": 8,
    "Changed mind": 18,
}
RETURN_CONDITIONS = ("resellable", "damaged", "destroyed")

FACILITIES = ("PDX-BAKERY", "AUS-KITCHEN", "CMH-PLANT")
WASTE_REASONS = {
    "Expired": 30,
    "Damaged": 15,
    "Production scrap": 30,
    "Overproduction": 15,
    "Quality reject": 10,
}

INSPECTION_TYPES = {"Final": 50, "In-process": 35, "Shelf life": 15}
SAMPLE_SIZES = (20, 32, 50, 80, 125)

CA_PROVINCES = ("ON", "QC", "BC", "AB", "MB", "NS")
CA_CITIES = ("Toronto", "Montreal", "Vancouver", "Calgary", "Ottawa", "Winnipeg", "Halifax")
GB_CITIES = (
    ("London", "England"),
    ("Manchester", "England"),
    ("Bristol", "England"),
    ("Edinburgh", "Scotland"),
    ("Glasgow", "Scotland"),
    ("Cardiff", "Wales"),
    ("Belfast", "Northern Ireland"),
)
EMAIL_DOMAINS = ("gmail.com", "gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com")
