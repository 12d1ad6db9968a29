"""The import pipeline every import operation runs (``gateway.imports.pipeline``).

How to write an import operation
================================

An import is one module under ``gateway/handlers/<service>/`` that declares four things and
nothing else; :func:`gateway.imports.pipeline.run_import` does the rest (transaction,
savepoints, bulk writes, races, replays, the result elements)::

    @dataclass(frozen=True)
    class Contract:                       # 1. the record: one per item, frozen, typed
        number: str
        account_guid: str

    @dataclass
    class Packet:                         #    the packet's state, built by prefetch
        accounts: dict[str, AccountRow]
        numbers: set[str]

    class ImportContracts(ImportBase[Contract, Packet]):
        answer = Answer(HM, tag="CommonResult", wrapper_version="10.0.1.1", nsmap={"hm": HM})

        def read(self, ctx, request):     # 1. read: Item(TransportGUID, record) per item, in
            for element in children(request, "Contract"):       # the order they are decided
                yield Item(text(element, "TransportGUID") or "", Contract(...))

        def prefetch(self, ctx, records): # 2. prefetch: a few set queries, never one per item
            return Packet(accounts=repo.accounts_by_guids(ctx.session, ...), numbers=...)

        def decide(self, ctx, state, record, changes):   # 3. decide: the rules, in memory
            if record.number in state.numbers:
                raise ItemError(Code.X, "…")               # refused: nothing of it is written
            row = changes.insert(Contract, {...})          # 4. rows to write (bulk, later)
            state.numbers.add(record.number)               # the items after it see it
            return Done(guid=row["guid"], unique_number=record.number)   # 5. the answer

    IMPORT = ImportContracts()

    def import_contracts(ctx: HandlerContext, request: etree._Element) -> HandlerResult:
        return run_import(IMPORT, ctx, request)

and registers ``import_contracts`` as the operation's handler in ``gateway/services/``.

Rules of the road
-----------------
- ``read`` makes frozen records; an item that cannot even be read (a malformed amount) is
  ``Item(transport_guid, unreadable=ItemError(...))`` and is answered with that error.
- ``prefetch`` reads with ``persistence.sets.where_in`` (``= ANY`` on PostgreSQL, ``IN``
  batches on SQLite) through the domain repository (``persistence/<domain>.py``), as Core
  rows or small frozen records, never ORM objects to change in place. A read every packet
  makes is declared once as a ``persistence.sets.SetRead`` (building a join per call costs
  SQLAlchemy milliseconds).
- ``decide`` checks everything first, then changes ``state`` and ``changes``; raising
  ``ItemError`` drops that item's ``changes``. Write only through ``changes``
  (``insert`` / ``update`` / ``delete``): the session is not touched until the write step.
- ``nsi_books`` names the nsiRef elements the items carry and their NSI books
  (``{"MunicipalResource": 2}``): the pipeline checks the packet's Code + GUID pairs against
  the books in one go and refuses an item with an unknown or mismatched one (HCS009001)
  before ``decide`` sees it.
- ``Done(guid, unique_number, detail)`` is what the item answers; ``detail`` adds an element
  such as ``ImportAccount`` to the result.
- Replays: a forced replay answers the items the first run applied as they were answered and
  calls ``applied(ctx, state, record, done)`` instead of ``decide`` for them; override it
  only when later items need in-memory state that item would have set (the house of a
  house import).
- A unique key the rules cannot see (another packet took it at the same moment) is handled
  by the pipeline: the packet is decided again on fresh state, and as a last resort item by
  item; override ``refused_by_database`` to give such an item a better code.

Tests: ``tests/handlers/`` runs each import's rules in process against SQLite and
PostgreSQL (no HTTP), including a process ► force-replay ► compare test.
"""
