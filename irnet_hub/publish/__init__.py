"""Publishing trained models: servables (Keras files + SavedModel + card + DLHub descriptions), model
cards, the Hugging Face upload and DLHub (publish, run, and the entry point a servable runs).

Built on :mod:`irnet_hub.hub` (registry, cache), never the other way round (``tests/test_package.py``).
"""
