"""The demo shop: a realistic, deterministic sample catalog and the embedded demo set-up.

About 300 products of a German grocery/drug store with valid GTIN-13 codes (GS1 Germany prefix
400-440), weighed goods sold per kg under 4-digit PLUs, and both VAT rates (19 % and 7 %).
"""

from __future__ import annotations

import random

from drivers.barcode.checksums import gs1_check_digit
from gateway.pos.catalog import Product

GROUPS: list[tuple[str, int, str, list[str], tuple[int, int]]] = [
    # group, vat_id, unit, base names, price range in cents
    ("Obst & Gemüse", 2, "kg", ["Äpfel Elstar", "Bananen", "Tomaten", "Gurken", "Karotten", "Kartoffeln festkochend", "Zwiebeln",
                               "Birnen Conference", "Trauben hell", "Paprika rot", "Zucchini", "Orangen", "Zitronen", "Kiwi",
                               "Brokkoli", "Blumenkohl", "Champignons", "Radieschen", "Lauch", "Spargel weiß"], (99, 899)),
    ("Käsetheke", 2, "kg", ["Gouda jung", "Emmentaler", "Bergkäse", "Butterkäse", "Tilsiter", "Edamer"], (899, 2999)),
    ("Wursttheke", 2, "kg", ["Schinken gekocht", "Salami", "Leberwurst", "Fleischwurst", "Bierschinken", "Mortadella"], (999, 3499)),
    ("Backwaren", 2, "piece", ["Brötchen", "Laugenbrezel", "Vollkornbrot", "Croissant", "Roggenbrot", "Baguette", "Ciabatta",
                              "Berliner", "Apfeltasche", "Zimtschnecke"], (35, 449)),
    ("Molkerei", 2, "piece", ["Vollmilch 3,5% 1l", "H-Milch 1,5% 1l", "Joghurt natur 500g", "Butter 250g", "Quark 40% 500g",
                             "Sahne 200ml", "Schmand 200g", "Frischkäse 200g", "Kefir 500ml", "Buttermilch 500ml"], (59, 329)),
    ("Getränke", 1, "piece", ["Mineralwasser still 1,5l", "Apfelschorle 1l", "Cola 1,5l", "Orangensaft 1l", "Eistee Pfirsich 1,5l",
                             "Bier Pils 0,5l", "Radler 0,5l", "Rotwein trocken 0,75l", "Sekt 0,75l", "Energy Drink 0,25l"], (39, 899)),
    ("Drogerie", 1, "piece", ["Zahnpasta 75ml", "Duschgel 250ml", "Shampoo 300ml", "Deo Spray 150ml", "Handseife 300ml",
                             "Taschentücher 10x10", "Wattepads 80 St.", "Sonnencreme LSF 30", "Rasierschaum 200ml", "Bodylotion 400ml"], (95, 1299)),
    ("Haushalt", 1, "piece", ["Spülmittel 500ml", "Küchenrolle 4 Rollen", "Toilettenpapier 8 Rollen", "Müllbeutel 35l",
                             "Waschmittel 20 WL", "Alufolie 30m", "Frischhaltefolie", "Schwämme 5 St.", "Glasreiniger 500ml",
                             "Batterien AA 4 St."], (99, 1499)),
    ("Trockensortiment", 2, "piece", ["Spaghetti 500g", "Reis 1kg", "Mehl Type 405 1kg", "Zucker 1kg", "Haferflocken 500g",
                                     "Müsli 750g", "Kaffee gemahlen 500g", "Tee schwarz 20 Btl.", "Honig 500g", "Erdbeerkonfitüre 450g"],
     (79, 899)),
    ("Süßwaren", 2, "piece", ["Vollmilchschokolade 100g", "Gummibärchen 200g", "Kekse 250g", "Chips Paprika 175g",
                             "Salzstangen 250g", "Nussmischung 200g", "Müsliriegel 6 St.", "Lakritz 200g"], (79, 399)),
]
VARIANTS = ["", " Bio", " Premium", " Classic", " Regional", " XXL", " Light", " Family"]


def gtin13(body12: str) -> str:
    """Append the GS1 check digit to 12 digits."""
    return body12 + str(gs1_check_digit(body12))


def sample_products(count: int = 300, seed: int = 4711) -> list[Product]:
    """Deterministic demo catalog (the same products on every run)."""
    rng = random.Random(seed)
    out: list[Product] = []
    plu = 1001
    i = 0
    while len(out) < count:
        group, vat_id, unit, names, (lo, hi) = GROUPS[i % len(GROUPS)]
        name = names[(i // len(GROUPS)) % len(names)] + VARIANTS[(i // (len(GROUPS) * len(names))) % len(VARIANTS)]
        price = rng.randint(lo, hi) // 10 * 10 + 9
        if unit == "kg":
            code = str(plu)
            plu += 1
        else:
            code = gtin13(f"4{rng.randint(0, 40):02d}{rng.randint(0, 10**9 - 1):09d}")
        if not any(p.code == code for p in out):
            out.append(Product(code, name.strip(), vat_id, price, unit, group))
        i += 1
    return out
