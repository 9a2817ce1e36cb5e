"""What every Millimetric process does the same way at run time: typed settings from the
environment (`settings`), logging with the request id (`logs`), the HTTP observability endpoints and
middleware (`http`), Prometheus metric names and helpers (`metrics`), retries with backoff
(`backoff`), the one answer to "is this dependency unavailable?" (`dependencies`), and the process
supervisor used by `millimetric dev`, the tests and the benchmarks (`processes`).

Wire contracts live in `millimetric_protocol`; this library holds no contract and no service logic.
"""

__version__ = "0.1.0"
