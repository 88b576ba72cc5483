"""Cross-site refusal for state-changing admin requests: browsers resend basic credentials by
themselves, so a page on another site could otherwise pause a queue with the admin's login."""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.http.problems import Problem


def check_same_site(headers: dict[str, str]) -> None:
    """403 for a request a browser sent from another site: ``Sec-Fetch-Site`` other than
    ``same-origin``/``none``, or an ``Origin`` whose host is not this request's ``Host``.
    Clients that are not browsers (curl, SDKs) send neither header and pass."""
    site = headers.get("sec-fetch-site", "").lower()
    if site and site not in ("same-origin", "none"):
        raise Problem(403, f"Cross-site request refused (Sec-Fetch-Site: {site}).")
    origin = headers.get("origin", "")
    if origin:
        host = headers.get("host", "")
        if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
            raise Problem(403, f"Cross-site request refused (Origin {origin!r} is not {host!r}).")
