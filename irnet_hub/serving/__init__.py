"""Remote inference over the Open Inference Protocol (V2): the model server and its client.

* :mod:`irnet_hub.serving.server`: ``irnet serve``, irnet-hub models as ``kserve.Model``\\ s
  (needs the ``serve`` extra: ``pip install 'irnet-hub[serve]'``);
* :mod:`irnet_hub.serving.client`: :class:`RemoteModel`, what ``irnet_hub.load(NAME, remote=URL)``
  and ``irnet predict NAME ... --remote URL`` use (standard library only);
* :mod:`irnet_hub.serving.protocol`: the tensor names and limits both sides agree on.

Importing this package imports neither KServe nor the HTTP stack.
"""

from __future__ import annotations
