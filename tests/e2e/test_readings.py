"""Metering devices and readings end to end: real server, zeep clients of both services."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from tests.e2e.contract_data import place_contract
from tests.e2e.house_data import new_apartment_house
from tests.e2e.metering_data import (
    HOT_WATER,
    VERIFICATION_REASON,
    archive_request,
    collective_electric_device,
    collective_water_device,
    devices_request,
    electric_reading,
    electric_verification,
    history_request,
    values_request,
    water_reading,
    water_verification,
)
from tests.gis_client import GisClient
from tests.paths import DM_PATH, HM_PATH

TODAY = date.today()


@pytest.fixture(scope="module")
def hm(stand) -> GisClient:
    org = stand["orgs"]["uo"]
    return GisClient(stand["server"].endpoint(HM_PATH) + "?wsdl", org, password=org.password)


@pytest.fixture(scope="module")
def dm(stand) -> GisClient:
    org = stand["orgs"]["uo"]
    return GisClient(stand["server"].endpoint(DM_PATH) + "?wsdl", org, password=org.password)


def _house(hm: GisClient) -> str:
    fias = str(uuid.uuid4())
    place_contract(hm, fias)
    state = hm.wait(
        hm.ack_guid(
            hm.call("importHouseUOData", **new_apartment_house(fias, flats=1, rooms_in_first=0))
        )
    )
    assert all(
        r["Error"] in (None, []) for res in state["ImportResult"] for r in res["CommonResult"]
    )
    return fias


def _devices(hm: GisClient, fias: str, items: list) -> list:
    state = hm.wait(
        hm.ack_guid(hm.call("importMeteringDeviceData", **devices_request(fias, items)))
    )
    results = [r for res in state["ImportResult"] for r in res["CommonResult"]]
    assert all(r["Error"] in (None, []) for r in results), [r["Error"] for r in results]
    return results


def _root(result) -> str:  # type: ignore[no-untyped-def]
    return result["importMeteringDevice"]["MeteringDeviceGUID"]


def _post(dm: GisClient, items: list, fias: str | None = None) -> list:
    state = dm.wait(
        dm.ack_guid(dm.call("importMeteringDeviceValues", **values_request(items, fias)))
    )
    assert int(state["RequestState"]) == 3
    return state["ImportResult"]


def _error(result) -> str | None:  # type: ignore[no-untyped-def]
    return result["Error"][0]["ErrorCode"] if result["Error"] else None


def _raw_state_result(client: GisClient, message_guid: str):  # type: ignore[no-untyped-def]
    """The getStateResult element of a processed request, as it came over the wire."""
    from lxml import etree

    client.wait(message_guid)
    client.client.settings.raw_response = True
    try:
        response = client.call("getState", MessageGUID=message_guid)
    finally:
        client.client.settings.raw_response = False
    return etree.fromstring(response.content).find(
        "{http://schemas.xmlsoap.org/soap/envelope/}Body"
    )[0]


@pytest.fixture(scope="module")
def house_with_devices(hm: GisClient) -> dict:
    fias = _house(hm)
    water, electric = _devices(
        hm,
        fias,
        [
            collective_water_device(fias, "ВХ-1", base="100"),
            collective_electric_device(fias, "ЭЭ-1"),
        ],
    )
    return {
        "fias": fias,
        "water": _root(water),
        "water_version": water["GUID"],
        "electric": _root(electric),
        "water_number": water["UniqueNumber"],
    }


def test_devices_are_created_with_root_version_and_registry_number(house_with_devices) -> None:
    assert uuid.UUID(house_with_devices["water"])
    assert house_with_devices["water"] != house_with_devices["water_version"]
    assert house_with_devices["water_number"]


def test_readings_are_accepted_and_exported_in_the_history(
    dm: GisClient, house_with_devices
) -> None:
    day = TODAY - timedelta(days=20)
    results = _post(
        dm,
        [
            water_reading(house_with_devices["water"], "112.5", day),
            electric_reading(house_with_devices["electric"], "1100", "550", day),
        ],
    )
    assert [_error(r) for r in results] == [None, None]
    history = dm.wait(
        dm.ack_guid(
            dm.call("exportMeteringDeviceHistory", **history_request(house_with_devices["fias"]))
        )
    )
    by_root = {h["MeteringDeviceRootGUID"]: h for h in history["exportMeteringDeviceHistoryResult"]}
    water = by_root[house_with_devices["water"]]["OneRateDeviceValue"]
    assert [str(v["MeteringValue"]) for v in water["BaseValue"]] == ["100"]
    assert [str(v["MeteringValue"]) for v in water["Values"]["CurrentValue"]] == ["112.5"]
    electric = by_root[house_with_devices["electric"]]["ElectricDeviceValue"]
    current = electric["Values"]["CurrentValue"][0]
    assert (str(current["MeteringValueT1"]), str(current["MeteringValueT2"])) == ("1100", "550")
    assert history["PagedOutput"]["LastPage"] is True


def test_the_same_reading_twice_is_idempotent_and_a_different_one_conflicts(
    dm: GisClient, house_with_devices
) -> None:
    day = TODAY - timedelta(days=15)
    first = _post(dm, [water_reading(house_with_devices["water"], "120", day)])[0]
    again = _post(dm, [water_reading(house_with_devices["water"], "120.000", day)])[0]
    assert _error(first) is None and _error(again) is None
    assert again["GUID"] == first["GUID"]
    other = _post(dm, [water_reading(house_with_devices["water"], "121", day)])[0]
    assert _error(other) == "HCS002007"


def test_each_rule_is_refused_with_its_code_and_good_items_pass(
    dm: GisClient, house_with_devices
) -> None:
    water, electric = house_with_devices["water"], house_with_devices["electric"]
    day = TODAY - timedelta(days=10)
    results = _post(
        dm,
        [
            water_reading(water, "130", day),  # ok
            water_reading(str(uuid.uuid4()), "1", day),  # unknown device
            water_reading(water, "131", TODAY + timedelta(days=2)),  # future
            water_reading(water, "90", date(2022, 12, 1)),  # before installation
            water_reading(water, "99", TODAY - timedelta(days=5)),  # lower than 130
            water_reading(
                water, "140", TODAY - timedelta(days=4), resource=HOT_WATER
            ),  # not measured
            water_reading(water, "1000000000", TODAY - timedelta(days=3)),  # over 9 digits
            electric_reading(electric, "1200", "600", day, t3="10"),  # 3 zones on a 2-tariff meter
        ],
    )
    assert [_error(r) for r in results] == [
        None,
        "INT002000",
        "HCS002003",
        "HCS002004",
        "HCS002006",
        "HCS002002",
        "HCS002005",
        "HCS002008",
    ]
    assert all(r["Error"][0]["Description"] for r in results[1:])


def test_archived_device_takes_no_readings(hm: GisClient, dm: GisClient) -> None:
    fias = _house(hm)
    (device,) = _devices(hm, fias, [collective_water_device(fias, "ВХ-A")])
    archived = hm.wait(
        hm.ack_guid(hm.call("importMeteringDeviceData", **archive_request(device["GUID"])))
    )
    result = archived["ImportResult"][0]["CommonResult"][0]
    assert result["Error"] in (None, []) and result["GUID"] != device["GUID"]  # a new version
    assert (
        _error(_post(dm, [water_reading(_root(device), "101", TODAY - timedelta(days=1))])[0])
        == "HCS002001"
    )


def test_duplicate_device_number_in_a_house_is_refused(hm: GisClient) -> None:
    fias = _house(hm)
    _devices(hm, fias, [collective_water_device(fias, "ВХ-D")])
    state = hm.wait(
        hm.ack_guid(
            hm.call(
                "importMeteringDeviceData",
                **devices_request(fias, [collective_water_device(fias, "ВХ-D")]),
            )
        )
    )
    assert state["ImportResult"][0]["CommonResult"][0]["Error"][0]["ErrorCode"] == "HCS002011"


def test_readings_for_a_house_of_another_company_are_refused(
    stand, dm: GisClient, house_with_devices
) -> None:
    other = stand["orgs"]["uo2"]
    intruder = GisClient(
        stand["server"].endpoint(DM_PATH) + "?wsdl", other, password=other.password
    )
    state = intruder.wait(
        intruder.ack_guid(
            intruder.call(
                "importMeteringDeviceValues",
                **values_request([water_reading(house_with_devices["water"], "500", TODAY)]),
            )
        )
    )
    assert state["ImportResult"][0]["Error"][0]["ErrorCode"] == "AUT011003"


def test_thousand_device_packet_is_accepted_and_processed(hm: GisClient, dm: GisClient) -> None:
    fias = _house(hm)
    roots = []
    for batch in range(10):
        items = [collective_water_device(fias, f"M-{batch}-{n}", base="10") for n in range(100)]
        roots += [_root(r) for r in _devices(hm, fias, items)]
    assert len(set(roots)) == 1000
    day = TODAY - timedelta(days=1)
    results = _post(
        dm, [water_reading(root, f"{20 + i % 7}.125", day) for i, root in enumerate(roots)], fias
    )
    assert len(results) == 1000
    assert [_error(r) for r in results] == [None] * 1000


def test_device_answers_validate_against_the_published_schemas(
    stand, hm: GisClient, dm: GisClient, house_with_devices
) -> None:
    from lxml import etree

    from tests.stand import REFERENCE

    published = {
        "hm": REFERENCE / "house-management" / "hcs-house-management-types.xsd",
        "dm": REFERENCE / "device-metering" / "hcs-device-metering-types.xsd",
    }
    if not all(p.exists() for p in published.values()):
        pytest.skip(
            f"published formats not found at {REFERENCE} (present only beside the project's shared/ folder)"
        )
    schemas = {k: etree.XMLSchema(etree.parse(str(p))) for k, p in published.items()}
    day = TODAY - timedelta(days=2)
    guids = {
        "dm": [
            dm.ack_guid(
                dm.call(
                    "importMeteringDeviceValues",
                    **values_request(
                        [
                            water_reading(house_with_devices["water"], "150", day),
                            water_reading(str(uuid.uuid4()), "1", day),
                        ]
                    ),
                )
            ),
            dm.ack_guid(
                dm.call(
                    "exportMeteringDeviceHistory", **history_request(house_with_devices["fias"])
                )
            ),
        ],
        "hm": [
            hm.ack_guid(
                hm.call(
                    "exportMeteringDeviceData",
                    version="14.8.0.1",
                    FIASHouseGuid=house_with_devices["fias"],
                )
            ),
        ],
    }
    for service, client in (("dm", dm), ("hm", hm)):
        for message_guid in guids[service]:
            result = _raw_state_result(client, message_guid)
            assert result.tag.endswith("getStateResult")
            assert schemas[service].validate(result), (service, schemas[service].error_log)


def test_full_onboarding_house_accounts_devices_readings_history(
    hm: GisClient, dm: GisClient
) -> None:
    from tests.e2e.account_data import account, import_accounts, person
    from tests.e2e.account_data import premises as place
    from tests.e2e.house_data import tg
    from tests.e2e.metering_data import COLD_WATER, INSTALLED

    fias = str(uuid.uuid4())
    place_contract(hm, fias)
    house = new_apartment_house(fias, flats=2, rooms_in_first=0)
    flat_tgs = [
        g["ResidentialPremisesToCreate"]["TransportGUID"]
        for g in house["ApartmentHouse"]["ResidentialPremises"]
    ]
    state = hm.wait(hm.ack_guid(hm.call("importHouseUOData", **house)))
    by_tg = {
        r["TransportGUID"]: r["GUID"] for res in state["ImportResult"] for r in res["CommonResult"]
    }
    flats = [by_tg[t] for t in flat_tgs]

    accounts = [
        account(place(flat, "100"), payer=person("Petrova", "Anna"), number=f"ON-{flat[:8]}")
        for flat in flats
    ]
    state = hm.wait(hm.ack_guid(hm.call("importAccountData", **import_accounts(*accounts))))
    results = {r["TransportGUID"]: r for res in state["ImportResult"] for r in res["CommonResult"]}
    account_guids = [results[a["TransportGUID"]]["GUID"] for a in accounts]
    assert all(
        results[a["TransportGUID"]]["ImportAccount"]["UnifiedAccountNumber"] for a in accounts
    )

    devices = [
        {
            "TransportGUID": tg(),
            "DeviceDataToCreate": {
                "BasicChatacteristicts": {
                    "MeteringDeviceNumber": f"ХВ-{n}",
                    "InstallationDate": INSTALLED,
                    "RemoteMeteringMode": False,
                    "TemperatureSensor": False,
                    "PressureSensor": False,
                    "ResidentialPremiseDevice": {"PremiseGUID": [flat], "AccountGUID": [acc]},
                },
                "NotLinkedWithMetering": True,
                "MunicipalResourceNotEnergy": [
                    {"MunicipalResource": COLD_WATER, "MeteringValue": "5", "Unit": "113"}
                ],
            },
        }
        for n, (flat, acc) in enumerate(zip(flats, account_guids, strict=True))
    ]
    roots = [_root(r) for r in _devices(hm, fias, devices)]

    day = TODAY - timedelta(days=3)
    results = _post(
        dm, [water_reading(root, f"{7 + n}.5", day) for n, root in enumerate(roots)], fias
    )
    assert [_error(r) for r in results] == [None, None]

    history = dm.wait(dm.ack_guid(dm.call("exportMeteringDeviceHistory", **history_request(fias))))
    exported = {
        h["MeteringDeviceRootGUID"]: h for h in history["exportMeteringDeviceHistoryResult"]
    }
    assert set(exported) == set(roots)
    values = [
        str(exported[root]["OneRateDeviceValue"]["Values"]["CurrentValue"][0]["MeteringValue"])
        for root in roots
    ]
    assert values == ["7.5", "8.5"]

    device_export = hm.wait(
        hm.ack_guid(hm.call("exportMeteringDeviceData", version="14.8.0.1", FIASHouseGuid=fias))
    )
    linked = {
        d["MeteringDeviceRootGUID"]: d["BasicChatacteristicts"]["ResidentialPremiseDevice"][
            "AccountGUID"
        ]
        for d in device_export["exportMeteringDeviceDataResult"]
    }
    assert {root: list(accs) for root, accs in linked.items()} == {
        root: [acc] for root, acc in zip(roots, account_guids, strict=True)
    }


def test_supplier_readings_for_a_house_it_does_not_serve_are_refused(
    stand, house_with_devices
) -> None:
    rso = stand["orgs"]["rso"]
    supplier = GisClient(stand["server"].endpoint(DM_PATH) + "?wsdl", rso, password=rso.password)
    state = supplier.wait(
        supplier.ack_guid(
            supplier.call(
                "importMeteringDeviceValues",
                **values_request([water_reading(house_with_devices["water"], "900", TODAY)]),
            )
        )
    )
    assert state["ImportResult"][0]["Error"][0]["ErrorCode"] == "AUT011003"


def test_verifications_are_exported_whole_in_the_history_of_their_period(
    hm: GisClient, dm: GisClient
) -> None:
    from lxml import etree

    from gateway.config import load_settings
    from tests.stand import REFERENCE

    fias = _house(hm)
    water, electric = (
        _root(r)
        for r in _devices(
            hm,
            fias,
            [
                collective_water_device(fias, "ВХ-П", base="100"),
                collective_electric_device(fias, "ЭЭ-П"),
            ],
        )
    )
    start, end, seal = (
        TODAY - timedelta(days=12),
        TODAY - timedelta(days=10),
        TODAY - timedelta(days=9),
    )
    planned = water_verification(water, (start, "140.25"), (end, "0.5"), seal)
    unplanned = electric_verification(
        electric, (start, "1200", "600"), (end, "3", "2"), seal, reason=VERIFICATION_REASON
    )
    results = _post(
        dm,
        [water_reading(water, "130", TODAY - timedelta(days=14)), planned, unplanned],
    )
    assert [_error(r) for r in results] == [None, None, None]
    verification_guids = [r["GUID"] for r in results[1:]]

    # posted again: the same verification; with another seal date: a conflict
    again = _post(dm, [planned])[0]
    assert (_error(again), again["GUID"]) == (None, verification_guids[0])
    resealed = water_verification(water, (start, "140.25"), (end, "0.5"), seal - timedelta(days=1))
    assert _error(_post(dm, [resealed])[0]) == "HCS002007"

    # the end reading lies in the period, the start before it: exported whole
    message_guid = dm.ack_guid(
        dm.call(
            "exportMeteringDeviceHistory",
            **history_request(fias, TODAY - timedelta(days=11), TODAY),
        )
    )
    history = dm.wait(message_guid)
    by_root = {h["MeteringDeviceRootGUID"]: h for h in history["exportMeteringDeviceHistoryResult"]}
    water_values = by_root[water]["OneRateDeviceValue"]["Values"]
    assert water_values["CurrentValue"] == []  # 14 days ago: before the period
    (verified,) = water_values["VerificationValue"]
    assert (verified["StartDateValue"], verified["EndDateValue"], verified["SealDate"]) == (
        start,
        end,
        seal,
    )
    assert [
        (v["MunicipalResource"]["Code"], str(v["MeteringValue"])) for v in verified["StartValue"]
    ] == [("1", "140.25")]
    assert [
        (v["MunicipalResource"]["Code"], str(v["MeteringValue"])) for v in verified["EndValue"]
    ] == [("1", "0.5")]
    assert (verified["PlannedVerification"], verified["VerificationReason"]) == (True, None)

    (verified,) = by_root[electric]["ElectricDeviceValue"]["Values"]["VerificationValue"]
    assert (verified["StartDateValue"], verified["EndDateValue"], verified["SealDate"]) == (
        start,
        end,
        seal,
    )
    assert [
        (str(v["MeteringValueT1"]), str(v["MeteringValueT2"]))
        for v in (verified["StartValue"], verified["EndValue"])
    ] == [("1200", "600"), ("3", "2")]
    assert verified["PlannedVerification"] is None
    assert (verified["VerificationReason"]["Code"], verified["VerificationReason"]["GUID"]) == (
        VERIFICATION_REASON["Code"],
        VERIFICATION_REASON["GUID"],
    )

    # the same answer over the wire: valid against the published schema and against ours
    result = _raw_state_result(dm, message_guid)
    assert len(result.findall(".//{*}VerificationValue")) == 2
    rel = "device-metering/hcs-device-metering-types.xsd"
    ours = etree.XMLSchema(etree.parse(str(load_settings().xsd_dir / rel)))
    assert ours.validate(result), ours.error_log
    if not (REFERENCE / rel).exists():
        pytest.skip(f"published formats not found at {REFERENCE}")
    published = etree.XMLSchema(etree.parse(str(REFERENCE / rel)))
    assert published.validate(result), published.error_log

    # periods that hold neither of its readings: no verification
    for date_from, date_to in (
        (TODAY - timedelta(days=30), start - timedelta(days=1)),
        (seal, TODAY),
    ):
        outside = dm.wait(
            dm.ack_guid(
                dm.call("exportMeteringDeviceHistory", **history_request(fias, date_from, date_to))
            )
        )
        exported = {
            h["MeteringDeviceRootGUID"]: h for h in outside["exportMeteringDeviceHistoryResult"]
        }
        assert set(exported) == {water, electric}
        for holder in (
            exported[water]["OneRateDeviceValue"],
            exported[electric]["ElectricDeviceValue"],
        ):
            assert holder["Values"] is None or holder["Values"]["VerificationValue"] == []


def test_verifications_that_cannot_have_happened_are_refused(hm: GisClient, dm: GisClient) -> None:
    fias = _house(hm)
    (water,) = (_root(r) for r in _devices(hm, fias, [collective_water_device(fias, "ВХ-О")]))
    day = TODAY - timedelta(days=5)
    backwards = water_verification(water, (day, "140"), (day - timedelta(days=1), "0"), day)
    sealed_early = water_verification(water, (day, "140"), (day, "0"), day - timedelta(days=1))
    empty = water_verification(water, (day, "140"), (day, "0"), day)
    volumes = empty.pop("OneRateDeviceValue")["VerificationValue"]
    del volumes["StartValue"], volumes["EndValue"]  # allowed by the format for volume devices
    empty["VolumeDeviceValue"] = {"VerificationValue": volumes}
    ordered = water_verification(water, (day, "140"), (day, "0"), day)

    results = _post(dm, [backwards, sealed_early, empty, ordered])

    # every TransportGUID is answered; only the possible verification is stored
    assert [r["TransportGUID"] for r in results] == [
        item[branch]["VerificationValue"]["TransportGUID"]
        for item, branch in zip(
            (backwards, sealed_early, empty, ordered),
            ("OneRateDeviceValue", "OneRateDeviceValue", "VolumeDeviceValue", "OneRateDeviceValue"),
            strict=True,
        )
    ]
    assert [_error(r) for r in results] == ["HCS002009", "HCS002009", "HCS002009", None]
    descriptions = [r["Error"][0]["Description"] for r in results[:3]]
    assert "ends" in descriptions[0] and "before it starts" in descriptions[0]
    assert "sealed" in descriptions[1]
    assert "no start or end value" in descriptions[2]


def test_history_period_defaults_to_last_month_and_spans_two_months_at_most(
    hm: GisClient, dm: GisClient
) -> None:
    fias = _house(hm)
    (water,) = (_root(r) for r in _devices(hm, fias, [collective_water_device(fias, "ВХ-Д")]))
    last_month = (TODAY.replace(day=1) - timedelta(days=1)).replace(day=1)
    before = last_month - timedelta(days=1)
    recent = TODAY - timedelta(days=1)
    results = _post(dm, [water_reading(water, "110", before), water_reading(water, "120", recent)])
    assert [_error(r) for r in results] == [None, None]

    def history(date_from: date | None = None, date_to: date | None = None):  # type: ignore[no-untyped-def]
        request = history_request(fias, date_from, date_to)
        return dm.wait(dm.ack_guid(dm.call("exportMeteringDeviceHistory", **request)))

    def current_values(state) -> list[tuple[date, str]]:  # type: ignore[no-untyped-def]
        (device,) = state["exportMeteringDeviceHistoryResult"]
        values = device["OneRateDeviceValue"]["Values"]["CurrentValue"]
        return [(v["DateValue"].date(), str(v["MeteringValue"])) for v in values]

    # no dates: the first day of last month ► today, as the format says
    assert current_values(history()) == [(recent, "120")]
    assert current_values(history(before, before)) == [(before, "110")]

    # three calendar months, or an end before the start: refused for the whole request
    too_long = history(before, TODAY)
    assert too_long["ErrorMessage"]["ErrorCode"] == "HCS002020"
    assert "two consecutive calendar months" in too_long["ErrorMessage"]["Description"]
    backwards = history(TODAY, recent)
    assert backwards["ErrorMessage"]["ErrorCode"] == "HCS002020"
    assert not backwards["exportMeteringDeviceHistoryResult"]


def test_readings_stop_when_the_management_contract_ends(hm: GisClient, dm: GisClient) -> None:
    """A company takes readings of the devices of a house only while it manages the house."""
    from tests.e2e.contract_data import end_contract

    fias = str(uuid.uuid4())
    contract = place_contract(hm, fias)
    state = hm.wait(
        hm.ack_guid(
            hm.call("importHouseUOData", **new_apartment_house(fias, flats=1, rooms_in_first=0))
        )
    )
    assert all(
        r["Error"] in (None, []) for res in state["ImportResult"] for r in res["CommonResult"]
    )
    (device,) = _devices(hm, fias, [collective_water_device(fias, "КТ-1", base="10")])
    yesterday = TODAY - timedelta(days=1)
    (taken,) = _post(dm, [water_reading(_root(device), "11", yesterday)])
    assert _error(taken) is None
    end_contract(hm, contract)
    (refused,) = _post(dm, [water_reading(_root(device), "12", TODAY)])
    assert _error(refused) == "AUT011003"
