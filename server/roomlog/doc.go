// Package roomlog keeps a room's ordered, durable log in JetStream, on a NATS
// server embedded in the process (alone, or routed into a cluster with the
// embedded servers of other processes), or on an outside NATS cluster. It
// knows nothing of chat: an entry is a subject relative to the room ("msg",
// "member.user_123") and some bytes, numbered by the log.
//
// Alone, the embedded server listens on no port; the only client is this
// package's in-process connection. Each room is one stream, "POOLCHAT_" + room, over
// the subjects "poolchat.<room>.>", with limits retention and no limit on
// its length: the caller trims it, subject by subject (Trim, Forget).
//
// # Contract
//
//  1. Stored before seen. Append returns a sequence only once the server has
//     stored the entry; a follower is handed an entry only after that. An
//     entry that anyone has seen is in the log.
//  2. One order. Sequences are positive and strictly increasing in the order
//     entries were stored; a follower receives them in that order, without
//     gaps (beyond what Trim and Forget removed) and without repeats.
//  3. Never reused. Trim, Forget and restarts keep the last sequence: the
//     next Append always gets a larger one, even when the log is empty.
//     (A power loss is the exception; see Durability.)
//  4. One epoch per stream. Epoch is stored in the stream's metadata: the
//     same after every restart on the same Dir, new for a new stream (a new
//     or emptied Dir, every ephemeral Open). A sequence means something only
//     together with its epoch.
//  5. A retry is harmless. Append carries a message id (Nats-Msg-Id); the
//     server keeps the ids of the last two minutes, also across restarts,
//     and answers a repeated id with the first entry's sequence instead of
//     storing it again. So an Append whose answer was lost (an error, a
//     cancelled context, a crash before the caller heard back) may be
//     retried with the same id. A retry later than two minutes, or after a
//     restart that follows a Trim or Forget of the first entry, stores a
//     second entry: whoever applies the log should ignore an id it has
//     already applied.
//  6. One holder. Dir is locked (an advisory lock on Dir/poolchat.lock,
//     released by the operating system when the process ends, however it
//     ends); a second Open of the same Dir, in this process or another,
//     fails at once with ErrDirInUse. NATS itself does not lock its store
//     directory: two servers on one directory both start, both hand out
//     the same sequences, and the next start finds some acknowledged
//     entries gone.
//
// # Durability
//
// For a stream on one server, JetStream's file store writes each entry to
// its block file with a write system call before it acknowledges it (it
// flushes in place; nothing waits in the process's buffers), so an
// acknowledged entry survives a crash of the process: kill -9, a panic,
// the OOM killer. It calls fsync only from a timer, every two minutes
// (SyncInterval): not when a block file fills, not at a clean shutdown. So
// a crash of the machine (power loss, kernel panic) can lose the entries of
// the last two minutes, even after a clean Close; the log then comes back
// under the same epoch with a lower last sequence and gives the lost
// sequences to new entries. Config.SyncAlways closes that gap: every entry
// is fsynced before it is acknowledged, which costs one fsync per Append.
//
// # Following
//
// A follower is a JetStream ordered consumer: one ephemeral, unacknowledged
// consumer, started at a sequence, that the client checks for gaps in its
// own delivery sequence and replaces, starting after the last entry it
// handed over, whenever one appears, a heartbeat is missed (2 s of
// silence), the consumer disappears or the connection is re-established. A
// slow follower slows nothing else: the consumer pulls at most 500 entries
// ahead, and the rest wait in the stream.
//
// # An embedded cluster
//
// With Config.ClusterListen and ClusterPeers, the embedded servers of
// several processes route to each other and form one NATS cluster, named
// "poolchat-" + room, each server named by Config.Node, with JetStream in
// clustered mode: the stream and the bucket of live nodes are kept in
// Config.Replicas copies (3 for three servers or more), so the room
// survives the death of one server of three. Each server keeps its part
// under its own Dir, locked as above. Routing in nats-server starts only
// once a client listener is up, so a clustered server also listens for
// clients on a random loopback port, closed to anyone without a random
// token that only its process knows.
//
// JetStream needs a majority of the servers to elect a leader, and
// Replicas servers to place the stream, so Open waits for the cluster to
// form, up to ClusterWait, retrying what fails meanwhile; a process
// started first waits for the others. Afterwards Connected reports whether
// the server is routed to a majority of the servers it has seen, and
// Config.OnConnection hears when that changes: a server cut off from the
// others cannot append, and the room goes on without it.
//
// When a server dies, the streams it led elect another leader among the
// rest, which takes nats-server from 4 to 9 seconds; appends wait or fail
// meanwhile, and a follower's consumer that lived on the dead server is
// replaced after a missed heartbeat.
//
// # Ephemeral
//
// An ephemeral log keeps its stream in memory and writes no entry, stream
// or lock to disk. JetStream cannot start without a store directory: even
// with only memory streams it creates the directory and checks that it is
// writable (nats-server's enableJetStream, "FIXME(dlc) - Allow memory only
// operation?"), and with none configured it uses a shared one under the
// system's temporary directory that it never removes. So Open gives it a
// fresh empty directory of its own under the temporary directory and
// removes it as soon as the server has started; after that, memory streams
// and their consumers never touch it.
package roomlog
