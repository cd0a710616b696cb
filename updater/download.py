"""Talking to the central server: latest release, resumable download, status reports.

Downloading is separate from activating: :meth:`UpdateClient.download` only
fills ``<state>/update/downloads``. A cut connection resumes from the bytes
already on disk with an HTTP ``Range`` request. Retries are capped, with
exponential backoff; a 4xx answer is final (retrying a 404 forever is a known
failure of other updaters) and every failure is raised as :class:`DownloadError`
so the caller reports it and returns to idle.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from updater.bundle import sha256_file
from updater.errors import DownloadError

__all__ = ["Release", "UpdateClient"]

_BUNDLE_NAME = re.compile(r"^madoguchi-[A-Za-z0-9.+!_-]+\.bundle$")
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Release:
    """What the server offers on a channel."""

    version: str
    bundle: str
    size: int
    sha256: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Release:
        try:
            release = cls(
                str(data["version"]), str(data["bundle"]), int(data["size"]), str(data["sha256"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DownloadError(f"server sent a malformed release: {exc}") from exc
        if not _BUNDLE_NAME.match(release.bundle):
            raise DownloadError(f"server sent a bad bundle name {release.bundle!r}")
        return release


def _refusal(response: httpx.Response) -> str:
    """``answered 403: device counter-01 is revoked``: the status and the server's reason."""
    try:
        doc = response.json()
        why = doc.get("detail") or doc.get("error") if isinstance(doc, dict) else None
    except ValueError:  # not JSON
        why = None
    return f"answered {response.status_code}" + (f": {str(why)[:200]}" if why else "")


def _content_range_start(value: str) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value)
    return int(match.group(1)) if match else None


class UpdateClient:
    """A device's view of the update endpoints under ``base_url`` (e.g. ``.../updates``)."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        attempts: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout_s)
        self.attempts = attempts
        self.backoff_s = backoff_s

    def close(self) -> None:
        self._client.close()

    def latest(self, channel: str) -> Release | None:
        """The newest published release on ``channel``, or None."""
        try:
            response = self._client.get(f"{self.base_url}/releases/{channel}/latest")
        except httpx.HTTPError as exc:
            raise DownloadError(f"cannot reach the update server: {exc}") from exc
        if response.status_code in (204, 404):
            return None
        if response.status_code != 200:
            raise DownloadError(f"update server {_refusal(response)}")
        return Release.from_json(response.json())

    def download(self, release: Release, dest_dir: Path) -> Path:
        """Fetch ``release``'s bundle into ``dest_dir``, resuming a partial file."""
        dest_dir.mkdir(parents=True, exist_ok=True)
        final = dest_dir / release.bundle
        if final.exists() and final.stat().st_size == release.size:
            return final
        part = final.with_name(final.name + ".part")
        last_error = "no attempt made"
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(self.backoff_s * 2 ** (attempt - 1), 30.0))
            try:
                if self._fetch_into(release, part):
                    break
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                continue
        else:
            raise DownloadError(
                f"download of {release.bundle} failed after {self.attempts} attempts: {last_error}"
            )
        self._check(part, release)
        part.replace(final)
        return final

    def _fetch_into(self, release: Release, part: Path) -> bool:
        """One attempt; True when the part file is complete."""
        offset = part.stat().st_size if part.exists() else 0
        if offset > release.size:
            part.unlink()
            offset = 0
        if offset == release.size:
            return True
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        url = f"{self.base_url}/bundles/{release.bundle}"
        with self._client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416:
                part.unlink(missing_ok=True)  # our partial file is not a prefix of theirs
                return False
            if 400 <= response.status_code < 500:
                response.read()
                raise DownloadError(f"{url}: server {_refusal(response)}")
            if response.status_code >= 500:
                raise httpx.HTTPStatusError(
                    f"server answered {response.status_code}",
                    request=response.request,
                    response=response,
                )
            mode = "wb"
            if response.status_code == 206:
                start = _content_range_start(response.headers.get("content-range", ""))
                if start != offset:
                    raise DownloadError(f"{url}: server resumed at {start}, asked {offset}")
                mode = "ab"
            with part.open(mode) as out:
                for chunk in response.iter_bytes(_CHUNK):
                    out.write(chunk)
        return part.stat().st_size == release.size

    @staticmethod
    def _check(part: Path, release: Release) -> None:
        if sha256_file(part) != release.sha256:
            part.unlink()
            raise DownloadError(
                f"{release.bundle}: downloaded file does not match the server's SHA-256"
            )

    def report(self, device_id: str, reports: list[dict[str, Any]]) -> None:
        """Send status reports; raises :class:`DownloadError` unless the server took them all."""
        try:
            response = self._client.post(
                f"{self.base_url}/devices/{device_id}/status", json={"reports": reports}
            )
        except httpx.HTTPError as exc:
            raise DownloadError(f"cannot report status: {exc}") from exc
        if response.status_code != 200:
            raise DownloadError(f"status report refused: server {_refusal(response)}")
