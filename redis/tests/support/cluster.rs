//! A real Redis Cluster on loopback: three masters sharing the 16384 slots, optionally a
//! replica of the master that owns a given key, and the two changes a cluster goes
//! through in operation: a slot moved to another master, and a failover to a replica.

use std::time::Duration;

use super::{wait_until, RedisServer};

pub struct Cluster {
    pub nodes: Vec<RedisServer>,
}

fn command(server: &RedisServer, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(&mut server.connection())
        .unwrap_or_else(|e| panic!("{args:?} on {}: {e}", server.port))
}

fn text(server: &RedisServer, args: &[&str]) -> String {
    match command(server, args) {
        redis::Value::BulkString(bytes) => String::from_utf8(bytes).unwrap(),
        redis::Value::SimpleString(s) => s,
        redis::Value::VerbatimString { text, .. } => text,
        other => panic!("{args:?}: {other:?}"),
    }
}

impl Cluster {
    /// Three masters with a third of the slots each; with `replica_for`, a fourth node
    /// replicating the master that owns that key.
    pub fn start(replica_for: Option<&str>) -> Self {
        let options = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "1000",
        ];
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_with(&options)).collect();
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (node, (from, to)) in nodes.iter().zip(ranges) {
            command(
                node,
                &[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &from.to_string(),
                    &to.to_string(),
                ],
            );
        }
        let mut cluster = Cluster { nodes };
        for i in 1..3 {
            cluster.meet(i);
        }
        cluster.wait_until_agreed(3);
        if let Some(key) = replica_for {
            let master = cluster.owner(key);
            let master_id = cluster.id(master);
            cluster.nodes.push(RedisServer::start_with(&options));
            cluster.meet(3);
            cluster.wait_until_agreed(4);
            command(&cluster.nodes[3], &["CLUSTER", "REPLICATE", &master_id]);
            let replica = &cluster.nodes[3];
            wait_until("the replica is in sync", Duration::from_secs(20), || {
                text(replica, &["INFO", "replication"]).contains("master_link_status:up")
            });
        }
        cluster
    }

    fn meet(&self, i: usize) {
        let port = self.nodes[i].port.to_string();
        command(&self.nodes[0], &["CLUSTER", "MEET", "127.0.0.1", &port]);
    }

    /// Waits until every node knows `count` nodes and serves every slot.
    fn wait_until_agreed(&self, count: usize) {
        wait_until("the cluster agrees", Duration::from_secs(30), || {
            self.nodes.iter().all(|node| {
                let info = text(node, &["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{count}"))
            })
        });
    }

    pub fn url(&self, i: usize) -> String {
        self.nodes[i].url()
    }

    /// The node's cluster id.
    pub fn id(&self, i: usize) -> String {
        text(&self.nodes[i], &["CLUSTER", "MYID"])
    }

    pub fn slot(&self, key: &str) -> i64 {
        match command(&self.nodes[0], &["CLUSTER", "KEYSLOT", key]) {
            redis::Value::Int(slot) => slot,
            other => panic!("{other:?}"),
        }
    }

    /// The index of the master that owns `key`'s slot, as node 0 sees it.
    pub fn owner(&self, key: &str) -> usize {
        let slot = self.slot(key);
        let listing = text(&self.nodes[0], &["CLUSTER", "NODES"]);
        for line in listing.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if !fields[2].contains("master") {
                continue;
            }
            let owns = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => a.parse::<i64>().unwrap() <= slot && slot <= b.parse().unwrap(),
                None => range.parse::<i64>().ok() == Some(slot),
            });
            if owns {
                let port: u16 = fields[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
                return self.nodes.iter().position(|n| n.port == port).unwrap();
            }
        }
        panic!("nobody owns slot {slot}");
    }

    /// Moves `key`'s slot (with every key in it) from its owner to master `to`, the way
    /// `redis-cli --cluster reshard` does: importing, migrating, `MIGRATE`, then the new
    /// owner for every master.
    pub fn move_slot(&self, key: &str, to: usize) {
        let from = self.owner(key);
        let slot = self.slot(key).to_string();
        let (from_id, to_id) = (self.id(from), self.id(to));
        command(
            &self.nodes[to],
            &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id],
        );
        command(
            &self.nodes[from],
            &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id],
        );
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(&slot)
                .arg(100)
                .query(&mut self.nodes[from].connection())
                .unwrap();
            if keys.is_empty() {
                break;
            }
            let mut migrate = redis::cmd("MIGRATE");
            migrate
                .arg("127.0.0.1")
                .arg(self.nodes[to].port)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS");
            for key in &keys {
                migrate.arg(key);
            }
            migrate
                .exec(&mut self.nodes[from].connection())
                .expect("MIGRATE");
        }
        for node in [to, from] {
            command(
                &self.nodes[node],
                &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id],
            );
        }
        for (i, node) in self.nodes.iter().enumerate().take(3) {
            if i != to && i != from {
                command(node, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
            }
        }
        wait_until("the move is known", Duration::from_secs(10), || {
            self.owner(key) == to
        });
    }

    /// A coordinated failover: replica `i` takes over from its master.
    pub fn failover(&self, i: usize) {
        command(&self.nodes[i], &["CLUSTER", "FAILOVER"]);
        let node = &self.nodes[i];
        wait_until("the replica is a master", Duration::from_secs(20), || {
            text(node, &["INFO", "replication"]).contains("role:master")
        });
    }
}
