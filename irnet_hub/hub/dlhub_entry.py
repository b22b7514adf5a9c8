"""The entry point DLHub servables published before irnet-hub moved publishing to :mod:`irnet_hub.publish`
name in their ``dlhub.json`` (``irnet_hub.hub.dlhub_entry.predict``): kept so that they still run."""

from irnet_hub.publish.dlhub_entry import SERVABLE_DIR_ENV, predict, servable_dir

__all__ = ["predict", "servable_dir", "SERVABLE_DIR_ENV"]
