"""The targets board (Auswertung) and the reports for funder and city."""
