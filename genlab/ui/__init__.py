"""One module per tab; app.py lays them out."""
