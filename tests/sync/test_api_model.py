"""The whole API against a model (tests/sync/api_model.py), over HTTP: Alice with a phone
and a laptop, Bob with a phone, and random sequences of uploads (new files, dedup, new
versions, uploads left open and finished later), sync/files renames, moves and deletes
(from a synced device, or from one that has not pulled: conflicts), the offline queue,
trash restore and purge, version restore and conflict resolution. After every step:

- no answer is a 5xx, and every error is in the contract's envelope;
- a full sync (paged) and a replica applying every delta both equal the model's tree;
- the storage each account uses equals the model's: every retained version of every
  file not purged (trash included);
- GET /trash lists the model's trash items, GET /files/{id}/versions the model's versions;
- every live file downloads byte for byte as uploaded; nothing acknowledged is lost;
- Bob gets 404 for every id of Alice's (files, content, versions, trash, uploads,
  devices, conflicts, notifications), and the other way round, and changes nothing.

PROPERTY_EXAMPLES_SCALE=20 runs it harder.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.helpers import examples
from tests.sync.api_model_checks import Checks
from tests.sync.api_model_steps import CONTENTS, FOLDER_NAMES, NAMES, World

WORLD: list[World] = []  # the module's server, for the machine (hypothesis makes it)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with World.in_temp_dir() as w:
        WORLD.append(w)
        yield w
        WORLD.clear()


index = st.integers(0, 50)


class ApiModel(Checks, RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.w = WORLD[0]
        self.clock = 0  # orders the model's edits and pulls

    # -- setup ---------------------------------------------------------------------------

    @initialize()
    def setup(self) -> None:
        self.run(self._setup())

    # -- uploads -------------------------------------------------------------------------

    @rule(who=index, dev=index, folder=index, name=index, content=index, restore=st.booleans(),
          finish=st.booleans())
    def upload_new(self, who: int, dev: int, folder: int, name: int, content: int,
                   restore: bool, finish: bool) -> None:
        acct = self.account(who)
        self.run(self._upload_new(acct, self.phone(acct, dev), self.folder_choice(acct, folder),
                                  NAMES[name % len(NAMES)], CONTENTS[content % len(CONTENTS)],
                                  restore, finish))

    @rule(who=index, i=index)
    def finish_open_upload(self, who: int, i: int) -> None:
        acct = self.account(who)
        if acct.open_uploads:
            key = sorted(acct.open_uploads)[i % len(acct.open_uploads)]
            phone = next(p for p in acct.phones if p.dev.device_id == key[0])
            self.run(self._finish(acct, phone, key))

    @rule(who=index, i=index)
    def cancel_open_upload(self, who: int, i: int) -> None:
        acct = self.account(who)
        if acct.open_uploads:
            key = sorted(acct.open_uploads)[i % len(acct.open_uploads)]
            item = acct.open_uploads.pop(key)
            phone = next(p for p in acct.phones if p.dev.device_id == key[0])
            self.run(self.data("DELETE", f"/upload/{item['uploadId']}", phone))

    @rule(who=index, dev=index, f=index, content=index)
    def new_version(self, who: int, dev: int, f: int, content: int) -> None:
        acct = self.account(who)
        phone = self.phone(acct, dev)
        file_id = self.file_choice(acct, f, phone)
        if file_id is not None:
            self.run(self._new_version(acct, phone, file_id, CONTENTS[content % len(CONTENTS)]))

    # -- sync/files and the queue --------------------------------------------------------

    @rule(who=index, dev=index, f=index, to=index, how=st.sampled_from(
        ["rename", "move", "delete"]), queued=st.booleans())
    def change_file(self, who: int, dev: int, f: int, to: int, how: str,
                    queued: bool) -> None:
        acct = self.account(who)
        phone = self.phone(acct, dev)
        file_id = self.file_choice(acct, f, phone)
        if file_id is not None:
            self.run(self._change(acct, phone, file_id, how, to, queued))

    @rule(who=index, dev=index, folder=index, name=index)
    def mkdir(self, who: int, dev: int, folder: int, name: int) -> None:
        acct = self.account(who)
        phone = self.phone(acct, dev)
        parent = self.folder_choice(acct, folder)
        if parent.count("/") < 3:
            self.run(self._mkdir(acct, phone, parent, FOLDER_NAMES[name % len(FOLDER_NAMES)]))

    @rule(who=index, dev=index, folder=index, to=index, how=st.sampled_from(
        ["rename", "move", "delete"]))
    def change_folder(self, who: int, dev: int, folder: int, to: int, how: str) -> None:
        acct = self.account(who)
        phone = self.phone(acct, dev)
        assert acct.watcher is not None  # up to date: the folder ids live now
        folders = sorted((p, k) for k, (kind, p, _) in phone.tree.items()
                         if kind == "folder" and acct.watcher.tree.get(k, ("",))[1:2] == (p,))
        if folders:
            path, folder_id = folders[folder % len(folders)]
            self.run(self._change_folder(acct, phone, folder_id, path, how, to))

    @rule(who=index, dev=index)
    def sync(self, who: int, dev: int) -> None:
        acct = self.account(who)
        self.run(self.pull(self.phone(acct, dev)))

    # -- trash and versions --------------------------------------------------------------

    @rule(who=index, i=index, purge=st.booleans())
    def trash_item(self, who: int, i: int, purge: bool) -> None:
        acct = self.account(who)
        if acct.trash:
            group = acct.trash[sorted(acct.trash)[i % len(acct.trash)]]
            self.run(self._trash_item(acct, group.root, purge))

    @rule(who=index, f=index, v=index)
    def restore_version(self, who: int, f: int, v: int) -> None:
        acct = self.account(who)
        file_id = self.file_choice(acct, f)
        if file_id is not None:
            self.run(self._restore_version(acct, file_id, v))

    # -- conflicts -----------------------------------------------------------------------

    @rule(who=index, dev=index, f=index, content=index)
    def stale_edit(self, who: int, dev: int, f: int, content: int) -> None:
        """An edit through sync/files from whatever token the device has."""
        acct = self.account(who)
        phone = self.phone(acct, dev)
        file_id = self.file_choice(acct, f, phone)
        if file_id is not None and file_id in phone.tree:
            self.run(self._stale_edit(acct, phone, file_id, CONTENTS[content % len(CONTENTS)]))

    @rule(who=index, f=index, content=index, delete=st.booleans(), queued=st.booleans())
    def race(self, who: int, f: int, content: int, delete: bool, queued: bool) -> None:
        """The phone changes a file, then the laptop (not having pulled) changes it too."""
        acct = self.a if who % 2 else self.b
        phone, laptop = acct.phones[0], acct.phones[-1]
        self.run(self.pull(laptop))
        file_id = self.file_choice(acct, f, laptop)
        if file_id is None or file_id not in phone.tree:
            return
        self.run(self._stale_edit(acct, phone, file_id, CONTENTS[content % len(CONTENTS)]))
        if delete:
            self.run(self._change(acct, laptop, file_id, "delete", 0, queued))
        else:
            self.run(self._stale_edit(acct, laptop, file_id,
                                      CONTENTS[(content + 1) % len(CONTENTS)] + b"!"))

    @rule(who=index, i=index, choice=st.sampled_from(["keep_local", "keep_remote", "keep_both"]))
    def resolve(self, who: int, i: int, choice: str) -> None:
        acct = self.account(who)
        if acct.conflicts:
            self.run(self._resolve(acct, acct.conflicts.pop(i % len(acct.conflicts)), choice))

    # -- other accounts ------------------------------------------------------------------

    @rule(who=st.booleans())
    def probe_the_other_account(self, who: bool) -> None:
        self.run(self._probe(self.a if who else self.b, self.b if who else self.a))

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def matches_the_model(self) -> None:
        if hasattr(self, "a"):
            for acct in (self.a, self.b):
                self.run(self._check(acct))


def test_the_api_keeps_to_the_model(world: World) -> None:
    run_state_machine_as_test(ApiModel, settings=settings(
        max_examples=examples(8), stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
