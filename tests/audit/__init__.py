"""Cross-cutting security audit: PINs, 照合番号B and the My Number never leave the card session."""
