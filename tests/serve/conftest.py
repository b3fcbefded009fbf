"""The serving tests use the real saved models of the root conftest (``model_dirs``, ``minilm``)."""
