"""The streams' schemas: Cordial's record shapes (spec cordial.md §9.1) and the contacts schema built at
discovery from the account's contact attributes."""

from __future__ import annotations

import typing as t

from marketing_tapkit.schemas import open_schema
from singer_sdk import typing as th

if t.TYPE_CHECKING:
    import logging

DateTime = th.DateTimeType
OpenObject = th.ObjectType(additional_properties=True)
Strings = th.ArrayType(th.StringType)
# Numbers that Cordial sometimes sends as strings ("qty": "10" in recorded product data, spec §9.1).
NumberOrText = th.CustomType({"type": ["number", "string", "null"]})

ITEM = th.ObjectType(
    th.Property("productID", th.StringType),
    th.Property("sku", th.StringType),
    th.Property("category", th.StringType),
    th.Property("name", th.StringType),
    th.Property("qty", NumberOrText),
    th.Property("itemPrice", th.NumberType),
    th.Property("salePrice", th.NumberType),
    th.Property("amount", th.NumberType),
    th.Property("url", th.StringType),
    th.Property("attr", OpenObject),
    th.Property("productType", th.StringType),
    th.Property("manufacturerName", th.StringType),
    th.Property("UPCCode", th.StringType),
    th.Property("images", Strings),
    th.Property("tags", Strings),
    th.Property("properties", OpenObject),
    th.Property("description", th.StringType),
    th.Property("linkID", th.StringType),
    th.Property("mcID", th.StringType),
    additional_properties=True,
)

ORDERS = open_schema(
    th.Property("orderID", th.StringType, required=True),
    th.Property("_id", th.StringType),
    th.Property("purchaseDate", DateTime),
    th.Property("cID", th.StringType),
    th.Property("status", th.StringType),
    th.Property("linkID", th.StringType),
    th.Property("mcID", th.StringType),
    th.Property("msID", th.StringType),
    th.Property("storeID", th.StringType),
    th.Property("customerID", th.StringType),
    th.Property("items", th.ArrayType(ITEM)),
    th.Property("totalAmount", th.NumberType),
    th.Property("tax", th.NumberType),
    th.Property("shippingAndHandling", th.NumberType),
    th.Property("totalDiscountAmount", th.NumberType),
    th.Property("discountApplication", OpenObject),
    th.Property("shippingAddress", OpenObject),
    th.Property("billingAddress", OpenObject),
    th.Property("properties", OpenObject),
)

PRODUCTS = open_schema(
    th.Property("productID", th.StringType, required=True),
    th.Property("_id", th.StringType),
    th.Property("productName", th.StringType),
    th.Property("productType", th.StringType),
    th.Property("price", th.NumberType),
    th.Property("sale", OpenObject),
    th.Property("variants", th.ArrayType(th.ObjectType(
        th.Property("sku", th.StringType),
        th.Property("attr", OpenObject),
        th.Property("qty", NumberOrText),
        additional_properties=True,
    ))),
    th.Property("accountID", th.IntegerType),
    th.Property("totalQty", th.NumberType),
    th.Property("UPCCode", th.StringType),
    th.Property("category", th.StringType),
    th.Property("description", th.StringType),
    th.Property("images", Strings),
    th.Property("manufacturerName", th.StringType),
    th.Property("inStock", th.BooleanType),
    th.Property("taxable", th.BooleanType),
    th.Property("enabled", th.BooleanType),
    th.Property("url", th.StringType),
    th.Property("tags", Strings),
    th.Property("properties", OpenObject),
    th.Property("ct", DateTime),
    th.Property("lm", DateTime),
)

ACCOUNT_LISTS = open_schema(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType),
    th.Property("enhanced", th.BooleanType),
)

CONTACT_ATTRIBUTES = open_schema(
    th.Property("key", th.StringType, required=True),
    th.Property("name", th.StringType),
    th.Property("type", th.StringType),
    th.Property("index", th.BooleanType),
    th.Property("unique", th.BooleanType),
    th.Property("validators", OpenObject),
    th.Property("schema", OpenObject),
    th.Property("updateUnauthenticated", th.BooleanType),
    th.Property("retainOnDestroy", th.StringType),
    th.Property("ct", DateTime),
    th.Property("lm", DateTime),
)

SUPPLEMENTS = open_schema(
    th.Property("key", th.StringType, required=True),
    th.Property("name", th.StringType),
    th.Property("indexes", th.ArrayType(th.ObjectType(
        th.Property("field", th.StringType), th.Property("type", th.StringType)))),
    th.Property("createdAt", DateTime),
    th.Property("lastDataUpdate", DateTime),
    th.Property("contactObject", th.BooleanType),
    th.Property("autogenerateIDs", th.BooleanType),
)

SUPPLEMENT_RECORDS = th.PropertiesList(
    th.Property("supplement_key", th.StringType, required=True),
    th.Property("id", th.StringType, required=True),
    th.Property("cID", th.StringType, description="The contact the record belongs to, if any."),
    th.Property("ct", DateTime),
    th.Property("lm", DateTime),
    th.Property("created", DateTime),
    th.Property("attributes", OpenObject, description="The supplement's own fields, by name."),
).to_dict()

JOBS = open_schema(
    th.Property("_id", th.StringType, required=True),
    th.Property("times_start", DateTime,
                description="Copy of times.start: the replication key must be a top-level field."),
    th.Property("jobName", th.StringType),
    th.Property("status", th.StringType),
    th.Property("totalItems", th.IntegerType),
    th.Property("completedItems", th.IntegerType),
    th.Property("times", th.ObjectType(th.Property("start", DateTime), th.Property("end", DateTime))),
    th.Property("result", OpenObject),
    th.Property("metadata", OpenObject),
    th.Property("run", OpenObject),
    th.Property("statistic", OpenObject),
)

CONTACT_ACTIVITIES = open_schema(
    th.Property("_id", th.StringType, required=True),
    th.Property("time", DateTime),
    th.Property("action", th.StringType, description="message-sent, open, click, ... or a custom event."),
    th.Property("cID", th.StringType),
    th.Property("email", th.StringType),
    th.Property("mcID", th.StringType),
    th.Property("bmID", th.StringType),
    th.Property("msID", th.StringType),
    th.Property("mdtID", th.StringType),
    th.Property("first", th.IntegerType),
    th.Property("properties", OpenObject),
)

AUDIENCE_TRENDS = th.PropertiesList(
    th.Property("audience", th.StringType, required=True, description="Saved audience name."),
    th.Property("date", th.DateType, required=True, description="Snapshot day (midnight Los Angeles)."),
    th.Property("count", th.IntegerType, description="Contacts in the audience that day."),
).to_dict()

# Contacts -------------------------------------------------------------------------------------------

CHANNEL = th.ObjectType(
    th.Property("address", th.StringType),
    th.Property("subscribeStatus", th.StringType, description="none, subscribed or unsubscribed."),
    th.Property("subscribedAt", DateTime),
    th.Property("unsubscribedAt", DateTime),
    additional_properties=True,
)
CONTACT_SYSTEM_PROPERTIES = [
    th.Property("_id", th.StringType, required=True, description="The contact id (cID)."),
    th.Property("channels", th.ObjectType(
        th.Property("email", CHANNEL), th.Property("sms", CHANNEL), th.Property("push", OpenObject),
        additional_properties=True,
    )),
    th.Property("createdAt", DateTime),
    th.Property("lastModified", DateTime),
    th.Property("lists", Strings, description="Names of the lists the contact is on."),
    th.Property("listJoinDate", th.ObjectType(additional_properties=DateTime),
                description="When the contact joined each enhanced list, by list name."),
]
GEO = th.ObjectType(
    *(th.Property(name, th.StringType) for name in
      ("street_address", "street_address2", "city", "state", "postal_code", "country", "tz")),
    additional_properties=True,
)
ATTRIBUTE_TYPES: dict[str, th.JSONTypeHelper[t.Any]] = {
    "string": th.StringType(),
    "number": th.NumberType(),
    "date": DateTime(),
    "geo": GEO,
    "array": Strings,
}
# Fields the API sends that the schema leaves out: `lj` is an internal copy of listJoinDate (spec §9.1).
DROPPED_CONTACT_FIELDS = ("lj",)


def contacts_schema(attributes: t.Iterable[t.Any], logger: logging.Logger) -> dict[str, t.Any]:
    """System fields, lists and channels, plus one typed property per account contact attribute."""
    properties = list(CONTACT_SYSTEM_PROPERTIES)
    taken = {p.name for p in properties} | set(DROPPED_CONTACT_FIELDS)
    for attribute in attributes:
        key = attribute.get("key") if isinstance(attribute, dict) else None
        if not key or key in taken:
            if key:
                logger.warning("contacts: attribute %r has the name of a system field; it is not added.", key)
            continue
        kind = str(attribute.get("type") or "string")
        helper = ATTRIBUTE_TYPES.get(kind, th.StringType())
        properties.append(th.Property(key, helper, description=f"{attribute.get('name') or key} ({kind})"))
        taken.add(key)
    return th.PropertiesList(*properties).to_dict()


def attribute_types(schema: dict[str, t.Any]) -> dict[str, str]:
    """Each property's JSON type (`date` for date-times): how an export's CSV text is read back."""
    types = {}
    for name, prop in schema.get("properties", {}).items():
        kinds = prop.get("type", [])
        kinds = [kinds] if isinstance(kinds, str) else kinds
        types[name] = next((k for k in kinds if k != "null"), "string")
        if prop.get("format") == "date-time":
            types[name] = "date"
    return types
