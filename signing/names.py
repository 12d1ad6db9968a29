"""Namespace URIs and qualified names used by XML-DSig and XAdES."""

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
XML = "http://www.w3.org/XML/1998/namespace"

SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"

#: Attribute names that XML-DSig implementations treat as element ids.
ID_ATTRIBUTES = ("Id", "ID", "id")


def ds(local: str) -> str:
    """Clark name of an XML-DSig element."""
    return f"{{{DS}}}{local}"


def xades(local: str) -> str:
    """Clark name of a XAdES 1.3.2 element."""
    return f"{{{XADES}}}{local}"
