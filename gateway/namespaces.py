"""XML namespaces of the SOAP envelope and the GIS ZhKKh formats."""

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
BASE = "http://dom.gosuslugi.ru/schema/integration/base/"
HOUSE_MANAGEMENT = "http://dom.gosuslugi.ru/schema/integration/house-management/"
HOUSE_MANAGEMENT_SERVICE = (
    "http://dom.gosuslugi.ru/schema/integration/house-management-service-async/"
)
DEVICE_METERING = "http://dom.gosuslugi.ru/schema/integration/device-metering/"
NSI_BASE = "http://dom.gosuslugi.ru/schema/integration/nsi-base/"
DS = "http://www.w3.org/2000/09/xmldsig#"
#: The header namespace of the Action block a .NET WCF client sends on every call.
WCF_ADDRESSING_NONE = "http://schemas.microsoft.com/ws/2005/05/addressing/none"


def qname(ns: str, local: str) -> str:
    """Clark notation ``{ns}local`` as lxml uses it."""
    return f"{{{ns}}}{local}"
