"""The live dashboard (Streamlit): sales, customers, stock and data quality from gold."""
