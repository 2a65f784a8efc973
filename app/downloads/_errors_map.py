"""huggingface_hub and transport exceptions → Roost's download errors with user text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from app.downloads.errors import (
    DownloadAuthError,
    DownloadError,
    DownloadNotFoundError,
    DownloadTimeoutError,
)

_TOKEN_HINT = (
    "Accept the model's terms on its Hugging Face page, then set HF_TOKEN (or pass a token) "
    "to a token with read access to it."
)


@contextmanager
def hub_errors(repo_id: str, revision: str, file_name: str | None) -> Iterator[None]:
    """Re-raise hub errors from the block as :class:`DownloadError` subclasses.

    The HTTP status and hub error code (``X-Error-Code``) decide; messages are not parsed.
    """
    what = f"{file_name} in {repo_id}@{revision}" if file_name else f"{repo_id}@{revision}"
    try:
        yield
    except RemoteEntryNotFoundError as err:
        raise DownloadNotFoundError(
            f"{file_name or 'A file'} does not exist in {repo_id} at revision {revision}.",
            "Check the file name in the catalog, or the revision.",
        ) from err
    except RevisionNotFoundError as err:
        raise DownloadNotFoundError(
            f"Revision {revision} does not exist in {repo_id}.",
            "Check the revision (branch, tag or commit) in the catalog.",
        ) from err
    except (GatedRepoError, RepositoryNotFoundError, HfHubHTTPError) as err:
        response = err.response
        status = response.status_code if response is not None else None
        if isinstance(err, GatedRepoError) or status in (401, 403):
            # Whether a token went out (argument, HF_TOKEN or a stored login) is on the request.
            sent = response is not None and "authorization" in response.request.headers
            why = "the token given has no access" if sent else "no Hugging Face token is set"
            raise DownloadAuthError(
                f"{repo_id} is gated or private and {why} (HTTP {status} for {what}).",
                _TOKEN_HINT,
            ) from err
        if isinstance(err, RepositoryNotFoundError) or status == 404:
            raise DownloadNotFoundError(
                f"Repository {repo_id} was not found (HTTP {status}).",
                "Check the repository id; a private repository also needs a token.",
            ) from err
        raise DownloadError(
            f"The hub answered HTTP {status} for {what}.", "Try again later."
        ) from err
    except httpx2.TimeoutException as err:
        raise DownloadTimeoutError(
            f"The hub did not answer in time for {what}.",
            "Check the network, or the mirror in HF_ENDPOINT, and try again.",
        ) from err
    except httpx2.TransportError as err:
        raise DownloadError(
            f"Cannot reach the hub for {what}: {err}.",
            "Check the network connection, proxy settings, or HF_ENDPOINT.",
        ) from err
