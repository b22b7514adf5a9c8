"""The ``irnet serve`` command (registered on the ``irnet`` group by :mod:`irnet_hub.cli`).

Importing this module imports click only: KServe loads when the command runs.
"""

from __future__ import annotations

import click

from irnet_hub.serving import protocol as P


@click.command()
@click.argument("models", nargs=-1, required=True)
@click.option("--host", default=P.DEFAULT_HOST, show_default=True,
              help="Address to bind; 0.0.0.0 exposes the server to the network (use --token-file then).")
@click.option("--port", default=P.DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="File holding a bearer token (>= 16 characters) that every request must send.")
@click.option("--max-rows", default=P.DEFAULT_MAX_ROWS, show_default=True, type=click.IntRange(1), help="Rows per request (413 above).")
@click.option("--max-body-mb", default=32.0, show_default=True, type=click.FloatRange(0.001),
              help="Request body size in MiB (413 above).")
@click.option("--allow-model-control", is_flag=True,
              help="Allow the V2 repository extension (unload/reload of the models named here; never a client's path).")
@click.option("--access-log", is_flag=True, help="Log one line per request (method, path, status; never headers).")
@click.option("--blas-threads", default=1, show_default=True, type=click.IntRange(1),
              help="Threads per matrix product (more helps large requests on an otherwise idle machine).")
@click.option("--structure-timeout", default=P.DEFAULT_STRUCTURE_TIMEOUT, show_default=True,
              type=click.FloatRange(0.1), help="Seconds to featurize one structure (structure models; the row "
                                                "fails past it). ~1 s for 16 sites, ~1 min for 128 (benchmarks/RESULTS_structure_cells.md).")
def serve(models, host, port, token_file, max_rows, max_body_mb, allow_model_control, access_log,
          blas_threads, structure_timeout) -> None:
    """Serve MODELS (registered names, model directories, or NAME=PATH) over the V2 inference protocol.

    \b
    KServe's Python model server (pip install 'irnet-hub[serve]'), NumPy inference:
      irnet serve oqmd-formation-enthalpy --port 8080
      curl -s localhost:8080/v2/models/oqmd-formation-enthalpy/infer -d \\
        '{"inputs":[{"name":"formula","datatype":"BYTES","shape":[1],"data":["NaCl"]}]}'
      irnet predict oqmd-formation-enthalpy NaCl --remote http://127.0.0.1:8080
    """
    from irnet_hub.serving.server import serve as serve_fn

    serve_fn(list(models), host=host, port=port, token_file=token_file, max_rows=max_rows,
             max_body_bytes=int(max_body_mb * 1024 * 1024), allow_model_control=allow_model_control,
             access_log=access_log, blas_threads=blas_threads, structure_timeout=structure_timeout)


__all__ = ["serve"]
