"""Run scim2-tester (PyPI) against a SCIM 2.0 server: scim_check.py <base url> <API key>.

Exits 0 when every check is SUCCESS or SKIPPED; otherwise prints each ERROR and CRITICAL result
and exits 1. Also validates the server's SCIM OpenAPI document (`<base>/openapi.json`) as
OpenAPI 3.1. tests/api/scim.rs runs it against a real `frontline serve` process.
"""

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def validate_openapi(base: str) -> None:
    from openapi_spec_validator import OpenAPIV31SpecValidator, validate

    with Client() as http:
        spec = http.get(f"{base}/openapi.json").json()
    validate(spec, cls=OpenAPIV31SpecValidator)
    print("the SCIM OpenAPI document is valid OpenAPI 3.1")


def main() -> int:
    base, key = sys.argv[1], sys.argv[2]
    validate_openapi(base)
    client = SyncSCIMClient(
        Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    )
    results = check_server(client)
    bad = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    for r in results:
        print(f"{r.status.name:8} {r.resource_type or '-':6} {r.title}: {r.reason or ''}")
    # Without a usable description of the server the tester stops after discovery: that is
    # a failure too, not a pass.
    tested = {r.resource_type for r in results if r.resource_type}
    if not {"User", "Group"} <= tested:
        print(f"scim2-tester did not check Users and Groups (resource types tested: {tested})", file=sys.stderr)
        return 1
    if bad:
        print(f"\n{len(bad)} of {len(results)} checks failed", file=sys.stderr)
        for r in bad:
            print(f"{r.status.name} {r.resource_type} {r.title}: {r.reason}\n  {r.data!r}"[:2000], file=sys.stderr)
        return 1
    print(f"\nall {len(results)} checks passed or were skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
