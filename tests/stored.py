"""Records shared by the storage contract tests (and other tests that sign through storage)."""

from __future__ import annotations

from storage.records import Journey, SignatureRequest, Step
from tests.conftest import signature_request

PETITION = "contract-petition"


def request_for(user_id: int, country: str = "CA", **overrides: object) -> SignatureRequest:
    return signature_request(PETITION, user_id, country=country, **overrides)


SIGNED = Journey(step=Step.SIGNED, country="CA", name="x", consent=True, meets_minimum_age=True)
