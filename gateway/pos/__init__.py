"""Business services of the till: catalog and prices, carts and sales, payments, cash, reports."""
