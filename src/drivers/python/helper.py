"""sessiond's Python session helper: one namespace kept for the whole session.

Standard library only. sessiond writes one JSON request per line on fd 3 and reads one JSON reply
per line on fd 4, so nothing the user's code prints on stdout or stderr (fds 1 and 2, streamed as
they come) can be taken for the protocol. Requests:

  {"id": n, "op": "exec", "cell": c, "code": "..."}
  {"id": n, "op": "state"}

A cell runs like a REPL line: statements, then the last expression's repr through sys.displayhook
(so on stdout, and in `_` and `Out[c]`). After a cell the helper flushes stdout and stderr and then
writes its reply {"id", "ok", "cell", "cwd", "unread"} in one write: sessiond reads fds 1 and 2
(FIFOs) when the reply comes, so all the cell printed must be in them by then. `unread` is what the
two pipes held after the flush ([stdout, stderr] bytes, null where unknown): a pipe that held
nothing then has been read to the end already, and sessiond skips reading it again. Before a cell
the helper itself drops what is left in the pipes from between cells (its ready reply says
`dropsStaleOutput`), so that sessiond need not read them before each request.
"""

import ast
import builtins
import fcntl
import io
import json
import linecache
import os
import signal
import struct
import sys
import termios

REQUESTS_FD = 3
REPLIES_FD = 4
HELPER_FILE = os.path.abspath(__file__)
CO_COROUTINE = 0x0080
NO_INPUT = (
    "input() is not available in a sessiond python session: nobody is at a terminal to answer, "
    "so it would wait forever. Put the value in the code instead."
)


class StdinUnavailable(EOFError):
    """Raised by input() and reads of sys.stdin (an EOFError, so code that handles EOF still works)."""


class NoStdin(io.TextIOBase):
    """sys.stdin of a session: every read fails at once with a clear message."""

    def readable(self):
        return True

    def read(self, size=-1):
        raise StdinUnavailable(NO_INPUT)

    def readline(self, size=-1):
        raise StdinUnavailable(NO_INPUT)


def no_input(prompt=""):
    if prompt:
        sys.stdout.write(str(prompt))
    raise StdinUnavailable(NO_INPUT)


class Helper:
    def __init__(self):
        self.running = False
        self.loop = None
        self.inputs = [""]
        self.outputs = {}
        self.namespace = {
            "__name__": "__main__",
            "__builtins__": builtins,
            "In": self.inputs,
            "Out": self.outputs,
        }

    # ---- signals ---------------------------------------------------------------------------

    def on_sigint(self, signum, frame):
        # Only a running cell is interrupted; a late SIGINT between cells is ignored.
        if self.running:
            raise KeyboardInterrupt

    # ---- cells -----------------------------------------------------------------------------

    def run_cell(self, code, cell):
        filename = "<cell %d>" % cell
        self.inputs.append(code)
        # Tracebacks show the cell's source lines.
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        try:
            tree = compile(code, filename, "exec", ast.PyCF_ONLY_AST | flags)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            body = compile(tree, filename, "exec", flags)
            expression = compile(last, filename, "eval", flags) if last is not None else None
        except (SyntaxError, ValueError, OverflowError) as error:
            self.report_syntax_error(error)
            return False
        try:
            self.running = True
            self.evaluate(body)
            if expression is not None:
                value = self.evaluate(expression)
                self.running = False
                if value is not None:
                    self.outputs[cell] = value
                sys.displayhook(value)
            return True
        except SystemExit as error:
            self.running = False
            sys.stderr.write(
                "SystemExit: %r (the session stays alive; stop it through sessiond)\n" % (error.code,)
            )
            return False
        except BaseException as error:  # noqa: B036 — a cell's failure of any kind is its result
            self.running = False
            self.report_exception(error)
            return False
        finally:
            self.running = False

    def evaluate(self, code):
        result = eval(code, self.namespace)  # noqa: S307 — running the user's cell is the point
        if code.co_flags & CO_COROUTINE:
            import asyncio  # only cells with top-level await pay for it

            if self.loop is None:
                self.loop = asyncio.new_event_loop()
                asyncio.set_event_loop(self.loop)
            result = self.loop.run_until_complete(result)
        return result

    def report_syntax_error(self, error):
        import traceback

        lines = traceback.format_exception_only(type(error), error)
        line = getattr(error, "lineno", None)
        column = getattr(error, "offset", None)
        where = " (line %s, column %s)" % (line, column) if line is not None else ""
        message = getattr(error, "msg", None) or str(error)
        sys.stderr.write("".join(lines[:-1]) + "%s: %s%s\n" % (type(error).__name__, message, where))

    def report_exception(self, error):
        import traceback

        # The helper's own frames are not the user's business: run_cell and evaluate above the
        # cell, and on_sigint below it when an interrupt or timeout raised KeyboardInterrupt.
        report = traceback.TracebackException(type(error), error, error.__traceback__)
        pending = [report]
        while pending:
            part = pending.pop()
            part.stack = traceback.StackSummary.from_list(
                [frame for frame in part.stack if os.path.abspath(frame.filename) != HELPER_FILE]
            )
            pending.extend(chained for chained in (part.__cause__, part.__context__) if chained is not None)
        sys.stderr.write("".join(report.format()))


def write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def reply(message):
    write_all(REPLIES_FD, (json.dumps(message) + "\n").encode("utf-8"))


def flush_output():
    """Flushes what the cell printed; returns the bytes its pipes then hold, [stdout, stderr]."""
    # Before the reply: what the cell printed through a buffer of its own making still counts.
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 — the user may have closed or replaced it
            pass
    return [unread(1), unread(2)]


def pipe_identity(fd):
    try:
        status = os.fstat(fd)
    except OSError:
        return None
    return (status.st_dev, status.st_ino)


# The pipes sessiond gave as fds 1 and 2, told apart from whatever a cell may put in their place.
OUTPUT_PIPES = {1: pipe_identity(1), 2: pipe_identity(2)}


def unread(fd):
    # None (read it to be sure) when the cell closed the descriptor or put something else there.
    if OUTPUT_PIPES[fd] is None or pipe_identity(fd) != OUTPUT_PIPES[fd]:
        return None
    return pending_bytes(fd)


def pending_bytes(fd):
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return None


def open_stale_readers():
    """Read ends of the output pipes (opened again by name), to drop what nobody's code left in them."""
    readers = []
    for fd in (1, 2):
        try:
            readers.append(os.open("/proc/self/fd/%d" % fd, os.O_RDONLY | os.O_NONBLOCK))
        except OSError:
            for reader in readers:
                os.close(reader)
            return None
    return readers


def drop_stale_output(readers):
    # Before a cell runs, what a thread or process the user left running printed since the last
    # reply is in the pipes: no cell's output, and read here so that sessiond need not read the
    # (nearly always empty) pipes before each request. Only what the pipes hold now is taken:
    # the cell has not started, so none of it can be the cell's.
    for reader in readers:
        left = pending_bytes(reader) or 0
        while left > 0:
            try:
                chunk = os.read(reader, min(left, 65536))
            except OSError:
                break
            if not chunk:
                break
            left -= len(chunk)


def main():
    # The protocol's pipes are ours: subprocesses of a cell do not inherit them.
    os.set_inheritable(REQUESTS_FD, False)
    os.set_inheritable(REPLIES_FD, False)
    # Like the REPL: imports look in the working directory, not in this file's folder.
    sys.path[0] = ""
    builtins.input = no_input
    sys.stdin = NoStdin()
    helper = Helper()
    signal.signal(signal.SIGINT, helper.on_sigint)
    requests = os.fdopen(REQUESTS_FD, "rb")
    stale = open_stale_readers()
    ready = {"id": 0, "ok": True, "interpreter": "python %d.%d.%d" % sys.version_info[:3], "executable": sys.executable}
    if stale is not None:
        ready["dropsStaleOutput"] = True
    reply(ready)
    for line in requests:
        try:
            request = json.loads(line)
            op = request.get("op")
            if op == "exec":
                if stale is not None:
                    drop_stale_output(stale)
                ok = helper.run_cell(request.get("code", ""), int(request.get("cell", 0)))
                pending = flush_output()
                reply({"id": request["id"], "ok": ok, "cell": request.get("cell"), "cwd": os.getcwd(), "unread": pending})
            elif op == "state":
                reply({"id": request["id"], "ok": True, "cwd": os.getcwd(), "env": dict(os.environ)})
            else:
                reply({"id": request.get("id"), "ok": False, "error": "unknown op %r" % (op,)})
        except KeyboardInterrupt:
            # An interrupt that landed between the cell's end and its reply.
            helper.running = False
            reply({"id": request.get("id"), "ok": False, "cwd": os.getcwd(), "unread": flush_output()})


if __name__ == "__main__":
    main()
