"""File formats of the bank: the bank spreadsheet (.xlsx, .csv), its template, and the taxonomy sheet."""
