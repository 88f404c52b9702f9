"""Tells sessiond which folders of a workspace changed since it last asked (inotify).

Run by src/snapshots/change-tracker.ts, one process per server, for every workspace it
snapshots. Node's own fs.watch cannot serve: libuv drops the kernel's queue-overflow event, so
changes lost to an overflow would go unseen. This reads inotify itself and says so.

Wire: one JSON object per line each way. Requests carry an "id" the answer repeats.
  {"id": 1, "op": "changes", "root": "/abs/workspace", "skip": ["node_modules"]}
      -> {"id": 1, "full": true}                     not watched before (watched from now on),
                                                     or something was lost, or "skip" is not
                                                     what it was: walk it all
      -> {"id": 1, "full": false, "folders": [...], "trees": [...]}
         folders: relative paths ("" the root) whose entries or own metadata changed;
         trees: folders new since the last answer (created or moved in): walk all below them.
      Everything that changed before the request was read is in the answer (the queue is
      drained first: a write's event is queued before the write returns).
      skip: folder names the snapshot leaves out wherever they are (its ignore rules say so):
      such a folder is watched for one thing only, a second link made in it to a file of the
      workspace (which raises no event where the file's other name is); nothing below it is
      watched. sessiond decides the names; gitignore rules are never read here.
  {"id": 2, "op": "untrack", "root": "/abs/workspace"} -> {"id": 2}
Exits when its standard input closes. Arguments: the most folders watched per workspace, and how
long (seconds) a workspace whose folders churn rests unwatched (see Watcher.rest).
"""

import ctypes
import errno
import json
import os
import select
import struct
import sys
import time

IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# Folders are watched through their descriptors (/proc/self/fd/N), so no link in the workspace
# leads a watch outside it. What changes a snapshot: content, metadata, names coming and going.
# A file closed after it was opened for writing counts too (it may have been written through a
# shared memory map, which raises no modify event). Events of files already removed come too: one
# may live on under another name (Root.gone).
MASK = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
HEADER = struct.Struct("iIII")
# As deep as a snapshot's walk goes (walk.ts MAX_DEPTH).
MAX_DEPTH = 256
# Folders watched per workspace at most (the first argument may set another): a workspace of more
# is walked whole at every snapshot (watching it would take seconds and a share of the user's
# watches, at each start of the helper).
MAX_FOLDERS = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
# How long a workspace that churned rests unwatched (Watcher.rest), in seconds.
REST_SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
# Names of removed files remembered per workspace (see Root.gone); past it, a whole walk instead.
MAX_GONE = 10000
LIMIT_ERRORS = (errno.ENOSPC, errno.ENOMEM, errno.EMFILE)

libc = ctypes.CDLL("libc.so.6", use_errno=True)


class WatchLimit(Exception):
    """The user's inotify watches (or descriptors) ran out, or the workspace has too many folders: it goes unwatched."""

    def __init__(self, reason="the inotify watch limit (fs.inotify.max_user_watches) is reached"):
        super().__init__(reason)
        self.reason = reason


class Root:
    def __init__(self, path, skip):
        self.path = path
        # Folder names nothing below which is watched (see the wire's "skip").
        self.skip = skip
        self.folders = set()
        self.trees = set()
        # Set when events were lost: the next answer says to walk it all.
        self.full = False
        # Its watched folders: relative path -> watch descriptor, and each one's watched subfolders.
        self.paths = {}
        self.children = {}
        # Files removed (or moved away) since, by (folder, name): a write through a descriptor still
        # open on one is the write of a file that may live on under another name, maybe in another folder.
        self.gone = set()
        # Files written since the last answer, by (folder, name): one no longer there without a
        # removal seen was removed before the watch began, and may live on under another name too.
        self.written = set()
        # Why it is not watched, when it could not be: every answer is full, without trying again.
        self.refused = None
        # Folders watched and unwatched for its events since the last answer (see Watcher.rest).
        self.churn = 0
        # Until when (time.monotonic) it rests unwatched: every answer is full meanwhile.
        self.resting_until = None

    def left_out(self, rel):
        """Whether folder `rel` is one the snapshot leaves out wherever it is (watched, nothing below it)."""
        return rel != b"" and rel[rel.rfind(b"/") + 1 :] in self.skip


class Watcher:
    def __init__(self):
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.roots = {}
        self.watches = {}  # wd -> (root path, relative path)
        # Half of the user's inotify watches at most, so other programs of the user keep theirs.
        self.max_watches = user_watch_limit() // 2

    def add_tree(self, root, rel):
        """Watches the folder `rel` of `root` and every folder below it."""
        fd = open_below(root.path, rel)
        if fd is not None:
            self.watch_folder(root, fd, rel, 0)

    def watch_folder(self, root, fd, rel, depth):
        """Watches the folder open as `fd` (closed here), then those below it, depth first."""
        try:
            wd = libc.inotify_add_watch(self.fd, b"/proc/self/fd/%d" % fd, MASK)
            if wd < 0:
                if ctypes.get_errno() in LIMIT_ERRORS:
                    raise WatchLimit()
                return
            if wd not in self.watches and len(root.paths) >= MAX_FOLDERS:
                libc.inotify_rm_watch(self.fd, wd)
                raise WatchLimit("it has more than %d folders" % MAX_FOLDERS)
            known = self.watches.get(wd)
            if known is not None and known != (root.path, rel):
                # The folder moved (a swap of two names raises its events in either order): it is
                # watched under its new name only, and this answer says to walk it all.
                other = self.roots.get(known[0])
                if other is not None:
                    self.forget(other, known[1])
                    other.full = True
                root.full = True
            elif known is None and len(self.watches) >= self.max_watches:
                libc.inotify_rm_watch(self.fd, wd)
                raise WatchLimit("half of the inotify watches of the server's user (fs.inotify.max_user_watches) are in use")
            self.watches[wd] = (root.path, rel)
            root.paths[rel] = wd
            root.churn += 1
            if rel != b"":
                root.children.setdefault(parent(rel), set()).add(rel)
            if depth >= MAX_DEPTH or root.left_out(rel):
                return
            with os.scandir(fd) as entries:
                for entry in entries:
                    if not entry.is_dir(follow_symlinks=False):
                        continue
                    try:
                        child = os.open(entry.name, DIR_FLAGS, dir_fd=fd)
                    except OSError as err:
                        if err.errno in LIMIT_ERRORS:
                            raise WatchLimit()
                        continue
                    name = os.fsencode(entry.name)
                    self.watch_folder(root, child, name if rel == b"" else rel + b"/" + name, depth + 1)
        finally:
            os.close(fd)

    def remove_tree(self, root, rel):
        """Stops watching `rel` of `root` and every folder below it (as many steps as folders there)."""
        stack = [rel]
        while stack:
            here = stack.pop()
            stack.extend(root.children.pop(here, ()))
            root.churn += 1
            wd = root.paths.pop(here, None)
            if wd is not None and self.watches.get(wd) == (root.path, here):
                del self.watches[wd]
                libc.inotify_rm_watch(self.fd, wd)
        if rel != b"":
            siblings = root.children.get(parent(rel))
            if siblings is not None:
                siblings.discard(rel)

    def forget(self, root, rel):
        """Forgets the name `rel` of a watch that now has another one (its watch stays)."""
        if root.paths.get(rel) is not None:
            del root.paths[rel]
        siblings = root.children.get(parent(rel))
        if siblings is not None:
            siblings.discard(rel)

    def track(self, path, skip):
        root = Root(path, skip)
        self.roots[path] = root
        try:
            self.add_tree(root, b"")
        except WatchLimit as limit:
            self.remove_tree(root, b"")
            root.refused = limit.reason
        return root

    def untrack(self, path):
        root = self.roots.pop(path, None)
        if root is not None:
            self.remove_tree(root, b"")

    def drain(self):
        """Reads every queued event, noting which folders they concern."""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            offset = 0
            while offset + HEADER.size <= len(data):
                wd, mask, _cookie, length = HEADER.unpack_from(data, offset)
                name = data[offset + HEADER.size : offset + HEADER.size + length].rstrip(b"\0")
                offset += HEADER.size + length
                self.event(wd, mask, name)

    def event(self, wd, mask, name):
        if mask & IN_Q_OVERFLOW:
            for root in self.roots.values():
                root.full = True
            return
        at = self.watches.get(wd)
        if at is None:
            return
        root = self.roots.get(at[0])
        if root is None or root.resting_until is not None:
            return
        rel = at[1]
        if mask & IN_IGNORED:
            # The folder is gone (or its file system): its parent saw that, or the root is lost.
            del self.watches[wd]
            if root.paths.get(rel) == wd:
                self.forget(root, rel)
            if rel == b"":
                root.full = True
            else:
                root.folders.add(parent(rel))
            return
        if root.left_out(rel):
            # Nothing in it is snapshotted: only a second link made here to a file that is matters.
            if name and not mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO) and links_of(root, rel, name) != 1:
                root.full = True
            return
        root.folders.add(rel)
        if name and not mask & IN_ISDIR:
            at_name = (rel, name)
            if mask & (IN_DELETE | IN_MOVED_FROM):
                root.written.discard(at_name)
                root.gone.add(at_name)
                if len(root.gone) > MAX_GONE:
                    root.gone = set()
                    root.full = True
            elif mask & (IN_CREATE | IN_MOVED_TO):
                root.gone.discard(at_name)
                # A name that is a second link to a file changes the file under its other names,
                # in folders that raise no event for it (ignored ones too): walk it all. A name
                # already gone may have been one.
                if links_of(root, rel, name) != 1:
                    root.full = True
            elif at_name in root.gone:
                root.full = True
            else:
                root.written.add(at_name)
        if name:
            if mask & IN_ISDIR:
                child = name if rel == b"" else rel + b"/" + name
                if mask & (IN_MOVED_FROM | IN_DELETE):
                    self.remove_tree(root, child)
                if mask & (IN_CREATE | IN_MOVED_TO):
                    root.trees.add(child)
                    try:
                        self.add_tree(root, child)
                    except WatchLimit as limit:
                        self.remove_tree(root, b"")
                        root.refused = limit.reason
                if root.churn > 2 * MAX_FOLDERS:
                    self.rest(root)
        elif mask & (IN_DELETE_SELF | IN_MOVE_SELF):
            if rel == b"":
                root.full = True
            else:
                root.folders.add(parent(rel))

    def rest(self, root):
        """
        Lets a workspace whose folders churn (a tree of thousands moved back and forth) rest
        unwatched for REST_SECONDS: every answer for it is full meanwhile, and then it is watched
        anew. Re-watching such trees at each event would take this helper seconds per event, and
        every other workspace's answer would wait behind them (and time out).
        """
        self.remove_tree(root, b"")
        root.resting_until = time.monotonic() + REST_SECONDS

    def changes(self, path, skip):
        self.drain()
        root = self.roots.get(path)
        if root is not None and root.resting_until is not None:
            if time.monotonic() < root.resting_until:
                return {"full": True}
            root = None
            self.roots.pop(path, None)
        if root is not None and root.skip != skip:
            # Other names left out: what is watched is not what the snapshot needs now.
            self.untrack(path)
            root = None
        first = root is None
        if first:
            root = self.track(path, skip)
        if root.refused is not None:
            return {"full": True, "unwatched": root.refused}
        answer = {"full": True}
        if not first and not root.full and all(self.present(root, rel, name) for rel, name in root.written):
            try:
                answer = {"full": False, "folders": [text(p) for p in root.folders], "trees": [text(p) for p in root.trees]}
            except UnicodeDecodeError:
                # A name that is not UTF-8 cannot be matched with the walk's names: walk it all.
                pass
        root.folders = set()
        root.trees = set()
        root.written = set()
        root.full = False
        root.churn = 0
        return answer

    def present(self, root, rel, name):
        """Whether a file written since the last answer still has the name it was written by."""
        return links_of(root, rel, name) > 0


def links_of(root, rel, name):
    """The link count of a file of `root` now; 0 when it is gone (or no longer reachable)."""
    try:
        return os.lstat(root.path + b"/" + (name if rel == b"" else rel + b"/" + name)).st_nlink
    except OSError:
        return 0


def user_watch_limit():
    try:
        with open("/proc/sys/fs/inotify/max_user_watches") as limit:
            return int(limit.read())
    except (OSError, ValueError):
        return 8192


def open_below(root, rel):
    """A descriptor of folder `rel` of `root`, opened a name at a time without following a link; None when it is no folder."""
    try:
        fd = os.open(root, DIR_FLAGS)
    except OSError:
        return None
    for name in rel.split(b"/") if rel else []:
        try:
            child = os.open(name, DIR_FLAGS, dir_fd=fd)
        except OSError:
            return None
        finally:
            os.close(fd)
        fd = child
    return fd


def parent(rel):
    slash = rel.rfind(b"/")
    return b"" if slash < 0 else rel[:slash]


def text(rel):
    return rel.decode("utf-8")


def main():
    watcher = Watcher()
    pending = b""
    while True:
        readable, _, _ = select.select([0, watcher.fd], [], [])
        if watcher.fd in readable:
            watcher.drain()
        if 0 not in readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if not line.strip():
                continue
            request = json.loads(line)
            path = os.fsencode(request["root"])
            if request["op"] == "changes":
                answer = watcher.changes(path, frozenset(os.fsencode(name) for name in request.get("skip", ())))
            else:
                watcher.untrack(path)
                answer = {}
            answer["id"] = request["id"]
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
