"""Omnichannel store services: stock and availability, click & collect, reservations, returns, loyalty, vouchers, customers."""
