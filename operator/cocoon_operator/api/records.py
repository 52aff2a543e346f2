"""The base of every record the operator keeps as camelCase JSON in a CocoonNode: the spec it reads,
the status it writes, the money records (intents, the claim ledger)."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """Frozen; camelCase on the wire, snake_case in Python. Unknown keys are ignored: an object written
    by a newer operator (or a newer CRD) must stay readable."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore")
