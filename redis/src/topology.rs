//! What the URL names: one Redis server, or any node of a Redis Cluster; and the clients
//! that reach it.
//!
//! In a cluster, script calls go through redis-rs's cluster client, which routes each call
//! to the node that owns the semaphore's slot and follows `MOVED` and `ASK` redirects (a
//! resharding, a failover). Pub/sub needs no routing: a `PUBLISH` in a cluster reaches
//! every node, so the pub/sub thread listens on any node it can reach.

use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::error::Error;

/// How many times the cluster client retries one call (a redirect, a slot in migration, a
/// node that dropped the connection). Each attempt gets its share of the I/O budget.
pub(crate) const CLUSTER_ATTEMPTS: u32 = 4;

/// The server (or servers) of one semaphore.
#[derive(Clone)]
pub(crate) enum Topology {
    Single(redis::Client),
    Cluster {
        client: ClusterClient,
        /// Every node known at connect time, for the pub/sub thread.
        nodes: Vec<redis::Client>,
    },
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Topology::Single(_) => f.write_str("Single"),
            Topology::Cluster { nodes, .. } => f
                .debug_struct("Cluster")
                .field("nodes", &nodes.len())
                .finish(),
        }
    }
}

impl Topology {
    /// The clients to try for pub/sub, in order.
    pub(crate) fn pubsub_nodes(&self, first: &redis::Client) -> Vec<redis::Client> {
        match self {
            Topology::Single(client) => vec![client.clone()],
            Topology::Cluster { nodes, .. } => {
                let mut all = vec![first.clone()];
                all.extend(nodes.iter().cloned());
                all
            }
        }
    }
}

/// The client for `url`, with TLS roots if given.
///
/// Its connections skip `CLIENT SETINFO` (the library's name and version): one round trip
/// less per connection, and a connection setup that waits for at most the replies the
/// URL asks for (`AUTH`, `SELECT`), which [`connect`] shares the budget among.
pub(crate) fn client(url: &str, root_certificate: Option<&[u8]>) -> Result<redis::Client, Error> {
    let bad_url = |e: redis::RedisError| Error::InvalidConfig(format!("bad Redis URL: {e}"));
    let info = url.into_connection_info().map_err(bad_url)?;
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    let info = info.set_redis_settings(settings);
    #[cfg(feature = "tls")]
    {
        // rustls needs a process-wide crypto provider; `ring` is the one this crate builds
        // with. Installing twice is harmless (the first one stays).
        let _ = rustls::crypto::ring::default_provider().install_default();
        if let Some(root) = root_certificate {
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.to_vec()),
            };
            return redis::Client::build_with_tls(info, certificates).map_err(bad_url);
        }
    }
    #[cfg(not(feature = "tls"))]
    let _ = root_certificate;
    redis::Client::open(info).map_err(bad_url)
}

/// A plain connection whose connect, writes and reads each give up at `deadline`.
pub(crate) fn connect(
    client: &redis::Client,
    deadline: Instant,
    io_timeout: Duration,
) -> Result<redis::Connection, Error> {
    let within = |e| Error::from_redis_within(e, io_timeout);
    let remaining = remaining(deadline, io_timeout)?;
    let connection = client
        .get_connection_with_timeout(remaining)
        .map_err(within)?;
    set_timeouts(&connection, deadline, io_timeout)?;
    Ok(connection)
}

/// Sets a connection's read and write timeouts to what is left until `deadline`.
pub(crate) fn set_timeouts(
    connection: &redis::Connection,
    deadline: Instant,
    io_timeout: Duration,
) -> Result<(), Error> {
    let remaining = remaining(deadline, io_timeout)?;
    let within = |e| Error::from_redis_within(e, io_timeout);
    connection
        .set_read_timeout(Some(remaining))
        .map_err(within)?;
    connection
        .set_write_timeout(Some(remaining))
        .map_err(within)
}

/// What is left of the budget, or `TimedOut` when nothing is.
pub(crate) fn remaining(deadline: Instant, io_timeout: Duration) -> Result<Duration, Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::TimedOut { after: io_timeout });
    }
    Ok(left)
}

/// Finds out whether `client` reaches a cluster node. Returns the topology and, for a
/// single server, the connection it opened (so the caller does not open another).
pub(crate) fn discover(
    client: &redis::Client,
    root_certificate: Option<&[u8]>,
    deadline: Instant,
    io_timeout: Duration,
) -> Result<(Topology, Option<redis::Connection>), Error> {
    let within = |e| Error::from_redis_within(e, io_timeout);
    let mut connection = connect(client, deadline, io_timeout)?;
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query(&mut connection)
        .map_err(within)?;
    if !info.lines().any(|line| line.trim() == "cluster_enabled:1") {
        return Ok((Topology::Single(client.clone()), Some(connection)));
    }
    let listing: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut connection)
        .map_err(within)?;
    let info = client.get_connection_info();
    let nodes = node_addresses(&listing)
        .into_iter()
        .filter_map(|(host, port)| redis::Client::open(with_address(info, host, port)).ok())
        .collect();
    let cluster = cluster_client(info, root_certificate, io_timeout)?;
    Ok((
        Topology::Cluster {
            client: cluster,
            nodes,
        },
        None,
    ))
}

fn cluster_client(
    first: &ConnectionInfo,
    root_certificate: Option<&[u8]>,
    io_timeout: Duration,
) -> Result<ClusterClient, Error> {
    let attempt = io_timeout / CLUSTER_ATTEMPTS;
    let builder = ClusterClientBuilder::new(vec![first.clone()])
        .connection_timeout(attempt)
        .response_timeout(attempt)
        .retries(CLUSTER_ATTEMPTS - 1)
        .min_retry_wait(5)
        .max_retry_wait(50);
    #[cfg(feature = "tls")]
    let builder = match root_certificate {
        Some(root) => builder.certs(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root.to_vec()),
        }),
        None => builder,
    };
    #[cfg(not(feature = "tls"))]
    let _ = root_certificate;
    builder
        .build()
        .map_err(|e| Error::InvalidConfig(format!("bad Redis Cluster configuration: {e}")))
}

/// The `host:port` of every node in a `CLUSTER NODES` listing that is neither failed nor
/// without an address.
fn node_addresses(listing: &str) -> Vec<(String, u16)> {
    listing
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let _id = fields.next()?;
            let address = fields.next()?;
            let flags = fields.next()?;
            if flags
                .split(',')
                .any(|f| matches!(f, "fail" | "fail?" | "noaddr" | "handshake"))
            {
                return None;
            }
            let host_port = address.split(['@', ',']).next()?;
            let (host, port) = host_port.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

/// `info` with another host and port (same credentials, database and TLS settings).
fn with_address(info: &ConnectionInfo, host: String, port: u16) -> ConnectionInfo {
    let addr = match info.addr() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host,
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(host, port),
    };
    info.clone().set_addr(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_listing_gives_live_addresses() {
        let listing = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-a slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master,fail - 0 1426238318243 3 connected 10923-16383
6ec23923021cf3ffec47632106199cb7f496ce01 :0@0 slave,noaddr 292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 0 1426238317741 6 connected
";
        assert_eq!(
            node_addresses(listing),
            [
                ("127.0.0.1".to_owned(), 30004),
                ("127.0.0.1".to_owned(), 30002)
            ]
        );
    }
}
