"""Declarative base with naming conventions, so every constraint has a predictable name."""

import enum

from sqlalchemy import CheckConstraint, MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def one_of(column: str, values: type[enum.StrEnum]) -> CheckConstraint:
    """A CHECK, named `ck_<table>_<column>`, that the column holds one of the enum's values: the
    database refuses a value the code does not know, whoever writes it."""
    return CheckConstraint(f"{column} IN ({', '.join(repr(str(v)) for v in values)})", name=column)
