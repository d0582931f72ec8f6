"""The production runtime: the tick over the SQL store, the outbox, delivery.

| module | concern |
| --- | --- |
| `runtime.py` | `Runtime`: config + templates + store + engine; the tick; the data API for imports |
| `deploy.py` | compile, register plans by hash, `--migrate` by step name |
| `outbox.py` | claim, render, hand to channels, settle; retries; crash recovery |
| `claims.py` | claim tokens (host, pid, start time), taking rows back from dead claimers |
| `settling.py` | outcomes of hand-overs recorded in bulk; those a delivery process leaves to its tick |
| `delivery_process.py` | a large tick's delivery in a process of its own, pipelined with the engine |
| `requeue.py` | failed messages back in the queue after a fix (`fsl outbox retry`) |

The deterministic engine it drives is `fsl/engine/`; the SQL store is `fsl/store/`;
the commands that call it are `fsl/cli/`.
"""
