"""Validate a hosted Open Badges 2.0 assertion with the `openbadges` package (PyPI).

    ob_validate.py ASSERTION_URL EMAIL

Prints the verifier's report (JSON) and exits 0 iff it says `valid`, 1 if not, 2 if the
verifier could not run. Used by tests/api/open_badges.rs against a real server process.

Offline: w3id.org cannot be reached from CI, so the JSON-LD context of Open Badges 2.0 is
served from the copy the package ships (`OPENBADGES_CONTEXT_V2_DICT`) instead of fetched.
Every other document (Assertion, BadgeClass, Issuer, image) is fetched from the server under
test, as a wallet would.
"""

import json
import sys

from openbadges.verifier import utils, verify
from openbadges.verifier.openbadges_context import OPENBADGES_CONTEXT_V2_DICT

CONTEXT_URLS = {
    "https://w3id.org/openbadges/v2",
    "http://w3id.org/openbadges/v2",
    "https://openbadgespec.org/v2/context.json",
}

_load = utils.CachableDocumentLoader.__call__


def _offline_context(self, url):
    if url.rstrip("/") in CONTEXT_URLS:
        return {
            "contextUrl": None,
            "documentUrl": url,
            "document": json.dumps(OPENBADGES_CONTEXT_V2_DICT),
        }
    return _load(self, url)


utils.CachableDocumentLoader.__call__ = _offline_context


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    url, email = argv[1], argv[2]
    try:
        report = verify(url, recipient_profile={"email": email}, use_cache=False)
    except Exception as e:  # the verifier's own failure is not a verdict
        print(f"the verifier failed: {e!r}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, default=str))
    return 0 if report.get("report", {}).get("valid") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
