"""Which of this process's file descriptors are TCP sockets with a given port at one end.

Counting every descriptor of the process says nothing about the code under test: a socket an
earlier test left to the garbage collector may close meanwhile, a library may open one lazily.
The sockets of one server are those with its port at one end: its listener, the connections it
accepted, and, when the client is in this process too (the simulator), the client's side of
each. Linux only: descriptors from /proc/self/fd, their sockets' addresses from /proc/net/tcp*.
"""
import os

# the states of include/net/tcp_states.h, as /proc/net/tcp writes them
TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
              "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
              "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}


def _port(address):
    return int(address.rsplit(":", 1)[1], 16)


def _tcp_table():
    """{socket inode: (local port, remote port, state)} for every TCP socket of this network
    namespace."""
    table = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path, encoding="ascii") as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    table[fields[9]] = (_port(fields[1]), _port(fields[2]),
                                        TCP_STATES.get(fields[3], fields[3]))
        except FileNotFoundError:
            continue
    return table


def tcp_sockets_on_port(port):
    """{fd: (local port, remote port, state)} of this process's TCP sockets with ``port`` at
    either end."""
    found = {}
    table = None
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + name)
        except OSError:          # closed since the listing
            continue
        if not target.startswith("socket:["):
            continue
        if table is None:
            table = _tcp_table()
        entry = table.get(target[len("socket:["):-1])
        if entry is not None and port in entry[:2]:
            found[int(name)] = entry
    return found
