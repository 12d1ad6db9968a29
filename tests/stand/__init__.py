"""The one test harness every tier uses.

    databases  scratch PostgreSQL databases; one test on both stores; migrated engines and
               in-process runtimes (unit, storage and worker tiers)
    inprocess  packets queued and processed without HTTP (worker tier)
    handlers   import handlers run in process on requests built by zeep offline (handler
               tier; ``from tests.stand.handlers import …``)
    gateway    the gateway as processes: CLI, demo CA and organisations, ``Stand`` (a store
               with its servers, nodes and workers), side servers (e2e, ops, security,
               scale-out tiers)
    packets    signed packets without a SOAP client, sent over plain HTTP (scale-out tier)

The fixtures built from it live in ``tests/conftest.py`` (``stand``, ``postgres_database``,
``engine``, ``sessions``) and, for one tier only, in that tier's ``conftest.py``.
"""

from tests.stand.databases import (
    PG_ADMIN_URL,
    STORES,
    Cluster,
    admin_engine,
    database_url,
    migrated_database,
    migrated_engine,
    runtime_on,
    scratch_database,
    start_private_cluster,
)
from tests.stand.gateway import (
    E2E_ORGS,
    FAST,
    PUBLISHED_EXTRA_ENV,
    REFERENCE,
    ROOT,
    SCALE_ORGS,
    Org,
    Server,
    Stand,
    free_port,
    fresh_orgs,
    gateway_cli,
    make_stand,
    published,
    published_or_skip,
    register_org,
    side_server,
    start_server,
    stop_server,
    store_args,
    trust_new_ca,
    wait_until,
)
from tests.stand.inprocess import (
    EXAMPLE,
    new_packet,
    packet_state,
    queue_example,
    replace_handler,
    result_of,
)
from tests.stand.packets import Sent, get_state, house_request, send, signed_packet

__all__ = [
    "E2E_ORGS",
    "EXAMPLE",
    "FAST",
    "PG_ADMIN_URL",
    "PUBLISHED_EXTRA_ENV",
    "REFERENCE",
    "ROOT",
    "SCALE_ORGS",
    "STORES",
    "Cluster",
    "Org",
    "Sent",
    "Server",
    "Stand",
    "admin_engine",
    "database_url",
    "free_port",
    "fresh_orgs",
    "gateway_cli",
    "get_state",
    "house_request",
    "make_stand",
    "migrated_database",
    "migrated_engine",
    "new_packet",
    "packet_state",
    "published",
    "published_or_skip",
    "queue_example",
    "register_org",
    "replace_handler",
    "result_of",
    "runtime_on",
    "scratch_database",
    "send",
    "side_server",
    "signed_packet",
    "start_private_cluster",
    "start_server",
    "stop_server",
    "store_args",
    "trust_new_ca",
    "wait_until",
]
