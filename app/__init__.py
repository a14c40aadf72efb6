"""The Streamlit chat page (`rag ui`): one module per panel; everything it shows comes from the rag API."""
