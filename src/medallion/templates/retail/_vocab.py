"""Layout, dirt rates and vocabularies of the retail generator (the rules are in generate.py's
docstring; keep both in sync). Nothing here is random."""

from __future__ import annotations

from datetime import date

from medallion.templates._kit import Spellings

# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------

HEADERS: dict[str, tuple[str, ...]] = {
    "customers.csv": (
        "customer_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "city",
        "state",
        "country",
        "segment",
    ),
    "orders.csv": ("order_id", "customer_id", "order_date", "channel", "total_amount", "status"),
    "order_lines.csv": (
        "order_line_id",
        "order_id",
        "product_id",
        "quantity",
        "unit_price",
        "discount_amount",
    ),
    "payments.csv": (
        "payment_id",
        "order_id",
        "payment_date",
        "payment_method",
        "payment_status",
        "payment_amount",
    ),
    "products.csv": (
        "product_id",
        "product_name",
        "category",
        "sub_category",
        "brand",
        "unit_price",
        "status",
    ),
}
FILES: tuple[str, ...] = tuple(HEADERS)

END_DATE = date(2024, 6, 30)
MIN_DAYS, MAX_DAYS = 60, 730
MAX_LINES_PER_ORDER = 25
#: the seed system: 3064 order lines in 1000 orders
LINES_PER_ORDER = 3.064

# ---------------------------------------------------------------------------------------------
# Dirt rates
# ---------------------------------------------------------------------------------------------

P_DUP = 0.01  # exact duplicate line (customers, orders, order_lines, payments)
P_MESSY_NAME = 0.03  # per name field
P_NAME_SUFFIX = 0.005
P_MESSY_EMAIL = 0.02
P_NO_PHONE = 0.03
P_NO_SEGMENT = 0.02
P_NO_CITY = 0.01
P_CITY_TRAILING = 0.02
P_NO_BRAND = 0.02
P_NO_SUB_CATEGORY = 0.015
P_BOOK_COMMA = 0.10
P_ORPHAN = 0.005
P_MESSY_ENUM = 0.03  # channel, status, payment_method
P_BAD_TOTAL = 0.02
P_PRICE_DRIFT = 0.02
P_DISCOUNT = 0.18
P_DISCOUNT_EMPTY = 0.02
P_FAILED_PAYMENT = 0.015  # a payment FAILED although the order went ahead
P_LATE_PAYMENT = 0.15  # paid 1-3 days after the order day
P_ZERO_PAYMENT = 0.01
# Dirt the template's data-quality rules catch (silver expectations quarantine these rows).
P_BAD_EMAIL = 0.005  # "n/a", no domain, no '@'
P_BAD_QUANTITY = 0.003  # 0 or a negative quantity on an order line
P_BAD_DATE = 0.003  # an order_date that is not a date
P_NEGATIVE_PAYMENT = 0.002  # a refund booked as a negative payment

# ---------------------------------------------------------------------------------------------
# Fixed vocabularies: those of the seed system's exports (codes upper-case, segment and product
# status as labels)
# ---------------------------------------------------------------------------------------------

#: key prefix and zero-padded width of each entity's text code (CUST0001, OL00001, ...); a number
#: past the width just has more digits (CUST12345)
KEYS: dict[str, tuple[str, int]] = {
    "customer": ("CUST", 4),
    "order": ("ORD", 4),
    "order_line": ("OL", 5),
    "payment": ("PAY", 4),
    "product": ("PROD", 4),
}


def code(entity: str, number: int) -> str:
    """The text key of entity number `number` ('customer', 7 -> 'CUST0007')."""
    prefix, width = KEYS[entity]
    return f"{prefix}{number:0{width}d}"


def number(entity: str, text: str) -> int:
    """The number of a text key ('customer', 'CUST0007' -> 7); ValueError when `text` is not
    one of `entity`'s keys."""
    prefix = KEYS[entity][0]
    text = text.strip()
    if not text.startswith(prefix) or not text[len(prefix) :].isdigit():
        raise ValueError(f"{text!r} is not a {entity} key ({prefix}0001, ...)")
    return int(text[len(prefix) :])


# Weighted tables are expanded to 100-entry lists so a draw is one random() and one index.
CHANNELS = {"WEB": 50, "MOBILE": 35, "STORE": 15}
ORDER_STATUSES = {"DELIVERED": 60, "SHIPPED": 20, "PLACED": 12, "CANCELLED": 8}
PAYMENT_METHODS = {"CARD": 50, "UPI": 20, "PAYPAL": 20, "CASH": 10}
SEGMENTS = {"Retail": 70, "Corporate": 15, "SME": 15}
PRODUCT_STATUS = "Active"  # the exports hold active products only
QUANTITIES = {1: 60, 2: 22, 3: 9, 4: 5, 5: 3, 10: 1}

CA_PROVINCES = ("ON", "QC", "BC", "AB", "MB", "NS", "SK", "NB")
CA_CITIES = (
    "Toronto",
    "Montreal",
    "Vancouver",
    "Calgary",
    "Ottawa",
    "Edmonton",
    "Winnipeg",
    "Halifax",
    "Quebec City",
    "Victoria",
)
GB_CITIES = (
    ("London", "England"),
    ("Manchester", "England"),
    ("Birmingham", "England"),
    ("Leeds", "England"),
    ("Bristol", "England"),
    ("Edinburgh", "Scotland"),
    ("Glasgow", "Scotland"),
    ("Cardiff", "Wales"),
    ("Swansea", "Wales"),
    ("Belfast", "Northern Ireland"),
)
EMAIL_DOMAINS = (
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "example.com",
)
NAME_SUFFIXES = (", Jr.", ", Sr.", ", III")

# category -> (price range in cents, brands, {sub_category: product nouns})
CATALOGUE: dict[str, tuple[tuple[int, int], tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "Electronics": (
        (1_999, 199_999),
        ("Voltix", "Nordal", "Sonique", "Pixelon", "Arcwave", "Kestrel"),
        {
            "Phones": ("Smartphone", "Phone Case", "Charger", "Screen Protector"),
            "Laptops": ("Laptop", "Ultrabook", "Laptop Stand", "Docking Station"),
            "Audio": ("Headphones", "Earbuds", "Bluetooth Speaker", "Soundbar"),
            "Cameras": ("Action Camera", "Webcam", "Tripod", "Camera Bag"),
        },
    ),
    "Home": (
        (499, 89_999),
        ("Hearthly", "Casa Nova", "Oakline", "Brightnest", "Kivo"),
        {
            "Kitchen": ("Chef Knife", "Frying Pan", "Blender", "Coffee Maker", "Cutting Board"),
            "Furniture": ("Bookshelf", "Desk Chair", "Side Table", "Sofa Bed"),
            "Decor": ("Table Lamp", "Wall Clock", "Vase", "Picture Frame"),
            "Bedding": ("Duvet Cover", "Pillow", "Throw Blanket", "Sheet Set"),
        },
    ),
    "Clothing": (
        (799, 24_999),
        ("Threadline", "Urban Fox", "Northpeak", "Maison Lys", "Riverstone"),
        {
            "Men": ("T-Shirt", "Oxford Shirt", "Chinos", "Hoodie", "Rain Jacket"),
            "Women": ("Blouse", "Summer Dress", "Cardigan", "Jeans", "Trench Coat"),
            "Kids": ("Pajama Set", "Sneakers", "Raincoat", "Sweatshirt"),
        },
    ),
    "Sports": (
        (999, 59_999),
        ("Peakform", "Trailhawk", "Velox", "Ironclad", "Summit Co"),
        {
            "Outdoor": ("Tent", "Sleeping Bag", "Hiking Backpack", "Camping Stove"),
            "Fitness": ("Yoga Mat", "Dumbbell Set", "Resistance Bands", "Jump Rope"),
            "Cycling": ("Bike Helmet", "Bike Light", "Cycling Gloves", "Water Bottle"),
        },
    ),
    "Books": (
        (499, 4_999),
        ("Penfold Press", "Bluefern Books", "Harbor House", "Quillmark"),
        {"Fiction": (), "Non-fiction": (), "Children": ()},  # names come from Faker words
    ),
    "Beauty": (
        (399, 12_999),
        ("Lumiere", "Glowra", "Pure Botanica", "Velvette"),
        {
            "Skincare": ("Face Serum", "Moisturizer", "Sunscreen SPF 50", "Cleanser"),
            "Makeup": ("Lipstick", "Mascara", "Foundation", "Eyeshadow Palette"),
        },
    ),
}
CATEGORY_WEIGHTS = {
    "Electronics": 22,
    "Home": 20,
    "Clothing": 22,
    "Sports": 14,
    "Books": 12,
    "Beauty": 10,
}
ADJECTIVES = (
    "Classic",
    "Pro",
    "Ultra",
    "Essential",
    "Premium",
    "Compact",
    "Deluxe",
    "Eco",
    "Smart",
    "Lite",
    "Max",
    "Everyday",
    "Wireless",
    "Vintage",
    "Modern",
)
COLORS = ("Black", "White", "Navy", "Grey", "Red", "Green", "Blue", "Sand", "Olive", "Rose")

#: the messy spellings of the upper-case codes (channel, status, payment_method)
ENUM_SPELLINGS = Spellings("{capitalized}", "{lower}", " {lower} ", "{value} ", " {capitalized}")
