"""gRPC server interceptors for inferwatch (``pip install inferwatch-grpc``).

::

    from concurrent.futures import ThreadPoolExecutor

    import grpc
    from inferwatch_grpc import InferenceInterceptor

    server = grpc.server(ThreadPoolExecutor(8), interceptors=[InferenceInterceptor()])

For ``grpc.aio.server`` use ``AioInferenceInterceptor``. Each RPC becomes one
inference record; a ``@inferwatch.monitor`` predict inside the servicer joins
it.
"""

from __future__ import annotations

try:
    import grpc  # noqa: F401 - checked here so the error names the package to install
except ImportError:
    from inferwatch import MissingDependencyError

    raise MissingDependencyError(
        "inferwatch_grpc needs grpcio: pip install inferwatch-grpc"
    ) from None

from ._call import DEFAULT_EXCLUDE
from ._interceptors import AioInferenceInterceptor, InferenceInterceptor

__version__ = "0.2.0"

__all__ = ["DEFAULT_EXCLUDE", "AioInferenceInterceptor", "InferenceInterceptor", "__version__"]
