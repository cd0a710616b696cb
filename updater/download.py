"""Talking to the central server: latest release, resumable download, status reports.

Downloading is separate from activating: :meth:`UpdateClient.download` only
fills ``<state>/update/downloads``. A cut connection resumes from the bytes
already on disk with an HTTP ``Range`` request. Retries are capped, with
exponential backoff; a 4xx answer is final (retrying a 404 forever is a known
failure of other updaters) and every failure is raised as :class:`DownloadError`
so the caller reports it and returns to idle.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from madoguchi.schema import ShapeError, convert
from updater import wire
from updater.errors import BundleRejectedError, DownloadError
from updater.manifest import ANY, Platform
from updater.statedir import PrivateDir

__all__ = ["Release", "UpdateClient"]

_CHUNK = 1 << 16
#: The header in which the server names the platform of the release it answers with
#: (``updater.server.PLATFORM_HEADER``; not imported: the device does not load the server).
PLATFORM_HEADER = "madoguchi-platform"


def _fits(served: str, platform: Platform) -> bool:
    parts = served.split("/")
    if len(parts) != 2:
        return False
    return parts[0] in (ANY, platform.machine) and parts[1] in (ANY, platform.python)


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
            release = convert(data, wire.Release, "the release")
        except ShapeError as exc:
            raise DownloadError(f"server sent a malformed release: {exc}") from exc
        return cls(release.version, release.bundle, release.size, release.sha256)


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


def _sha256_in(directory: PrivateDir, name: str) -> str | None:
    """Hex SHA-256 of plain file ``name`` in ``directory`` (no link followed), or None."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=directory.fd
        )
    except OSError:
        return None
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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

    def _get_json(self, path: str) -> Any:
        try:
            response = self._client.get(f"{self.base_url}{path}")
        except httpx.HTTPError as exc:
            raise DownloadError(f"cannot reach the update server: {exc}") from exc
        if response.status_code in (204, 404):
            return None
        if response.status_code != 200:
            raise DownloadError(f"update server {_refusal(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise DownloadError(f"update server sent no JSON for {path}") from exc

    def latest_answer(
        self,
        channel: str,
        platform: Platform | None = None,
        *,
        device: str | None = None,
        office: str | None = None,
    ) -> Any:
        """What the server says is latest on ``channel`` (a signed pointer, or an unsigned
        release from an older server), unchecked; None when nothing is published.

        With ``platform`` the counter asks for its own machine and interpreter, and an
        answer the server marks as another platform's is refused (``wrong-platform``)
        before anything is downloaded. ``device`` and ``office`` say who asks where the
        server has no certificate to tell (``update serve``); the central server ignores
        them and goes by the certificate."""
        params: dict[str, str] = {}
        if platform is not None:
            params.update(machine=platform.machine, python=platform.python)
        if device:
            params["device"] = device
        if office:
            params["office"] = office
        path = f"/releases/{channel}/latest"
        try:
            response = self._client.get(f"{self.base_url}{path}", params=params)
        except httpx.HTTPError as exc:
            raise DownloadError(f"cannot reach the update server: {exc}") from exc
        if response.status_code in (204, 404):
            return None
        if response.status_code != 200:
            raise DownloadError(f"update server {_refusal(response)}")
        served = response.headers.get(PLATFORM_HEADER)
        if platform is not None and served is not None and not _fits(served, platform):
            raise BundleRejectedError(
                "wrong-platform",
                f"the server offers a release for {served} on {channel}; this counter is "
                f"{platform}: nothing downloaded",
            )
        try:
            return response.json()
        except ValueError as exc:
            raise DownloadError(f"update server sent no JSON for {path}") from exc

    def latest(self, channel: str) -> Release | None:
        """The newest release on ``channel`` as the server states it, unsigned or not
        (tests and ``fetch`` of a legacy server; the poller checks the signature)."""
        answer = self.latest_answer(channel)
        if answer is None:
            return None
        if isinstance(answer, dict) and "signed" in answer:
            try:
                answer = json.loads(answer["signed"])
            except (TypeError, ValueError) as exc:
                raise DownloadError(f"server sent a malformed pointer: {exc}") from exc
        if not isinstance(answer, dict):
            raise DownloadError("server sent a malformed release")
        return Release.from_json(answer)

    def key_list(self) -> Any:
        """The signed key list the server serves (unchecked), or None."""
        return self._get_json("/keys")

    def download(self, release: Release, dest: PrivateDir) -> Path:
        """Fetch ``release``'s bundle into the updater's ``dest``, resuming a partial file.

        Every file is opened without following links (:class:`PrivateDir`); the
        finished file must match the release's SHA-256.
        """
        final = dest.path / release.bundle
        if dest.size(release.bundle) == release.size and _sha256_in(dest, release.bundle) == (
            release.sha256
        ):
            return final
        part = release.bundle + ".part"
        last_error = "no attempt made"
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(self.backoff_s * 2 ** (attempt - 1), 30.0))
            try:
                if self._fetch_into(release, dest, part):
                    break
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                continue
        else:
            raise DownloadError(
                f"download of {release.bundle} failed after {self.attempts} attempts: {last_error}"
            )
        if _sha256_in(dest, part) != release.sha256:
            dest.unlink(part)
            raise DownloadError(
                f"{release.bundle}: downloaded file does not match the server's SHA-256"
            )
        dest.rename(part, release.bundle)
        return final

    def _fetch_into(self, release: Release, dest: PrivateDir, part: str) -> bool:
        """One attempt; True when the part file is complete."""
        offset = dest.size(part) or 0
        if offset > release.size:
            dest.unlink(part)
            offset = 0
        if offset == release.size:
            return True
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        url = f"{self.base_url}/bundles/{release.bundle}"
        with self._client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416:
                dest.unlink(part)  # our partial file is not a prefix of theirs
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
            resume = False
            if response.status_code == 206:
                start = _content_range_start(response.headers.get("content-range", ""))
                if start != offset:
                    raise DownloadError(f"{url}: server resumed at {start}, asked {offset}")
                resume = True
            with os.fdopen(dest.open_new(part, append=resume), "ab") as out:
                for chunk in response.iter_bytes(_CHUNK):
                    out.write(chunk)
                    if out.tell() > release.size:
                        break  # more than the release said: the hash check refuses it
        return dest.size(part) == release.size

    def report(
        self, device_id: str, reports: list[dict[str, Any]], **facts: Any
    ) -> None:
        """Send status reports and what the counter is now (``facts``: ``running``,
        ``channel``, ``platform``, ``backlog``, ``quarantined``; see
        :class:`updater.rollout.StatusPost`); raises :class:`DownloadError` unless the
        server took them all."""
        body = {"reports": reports, **{k: v for k, v in facts.items() if v is not None}}
        try:
            response = self._client.post(
                f"{self.base_url}/devices/{device_id}/status", json=body
            )
        except httpx.HTTPError as exc:
            raise DownloadError(f"cannot report status: {exc}") from exc
        if response.status_code != 200:
            raise DownloadError(f"status report refused: server {_refusal(response)}")
