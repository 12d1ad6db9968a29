"""XML namespaces of the SOAP envelope, the GIS ZhKKh formats and the contract files: every
namespace URI the gateway (and scripts/) writes is here."""

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
BASE = "http://dom.gosuslugi.ru/schema/integration/base/"
HOUSE_MANAGEMENT = "http://dom.gosuslugi.ru/schema/integration/house-management/"
HOUSE_MANAGEMENT_SERVICE = (
    "http://dom.gosuslugi.ru/schema/integration/house-management-service-async/"
)
DEVICE_METERING = "http://dom.gosuslugi.ru/schema/integration/device-metering/"
NSI_BASE = "http://dom.gosuslugi.ru/schema/integration/nsi-base/"
BILLS = "http://dom.gosuslugi.ru/schema/integration/bills/"
BILLS_BASE = "http://dom.gosuslugi.ru/schema/integration/bills-base/"
PAYMENT = "http://dom.gosuslugi.ru/schema/integration/payment/"
PAYMENTS_BASE = "http://dom.gosuslugi.ru/schema/integration/payments-base/"
ACCOUNT_BASE = "http://dom.gosuslugi.ru/schema/integration/account-base/"
METERING_DEVICE_BASE = "http://dom.gosuslugi.ru/schema/integration/metering-device-base/"
ORGANIZATIONS_BASE = "http://dom.gosuslugi.ru/schema/integration/organizations-base/"
ORGANIZATIONS_REGISTRY_BASE = (
    "http://dom.gosuslugi.ru/schema/integration/organizations-registry-base/"
)
INDIVIDUAL_REGISTRY_BASE = "http://dom.gosuslugi.ru/schema/integration/individual-registry-base/"
ORGANIZATIONS_REGISTRY_COMMON = (
    "http://dom.gosuslugi.ru/schema/integration/organizations-registry-common/"
)
NSI_COMMON = "http://dom.gosuslugi.ru/schema/integration/nsi-common/"

# signatures and contracts (signing/ keeps its own names in signing/names.py)
DS = "http://www.w3.org/2000/09/xmldsig#"
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
SVG = "http://www.w3.org/2000/svg"  # the console's charts
#: The header namespace of the Action block a .NET WCF client sends on every call.
WCF_ADDRESSING_NONE = "http://schemas.microsoft.com/ws/2005/05/addressing/none"


def qname(ns: str, local: str) -> str:
    """Clark notation ``{ns}local`` as lxml uses it."""
    return f"{{{ns}}}{local}"
