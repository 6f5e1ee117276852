//! The Temporal server's own count of billable actions: its Prometheus `action` counter (one
//! series per `action_type`, e.g. `grpc_StartWorkflowExecution`,
//! `grpc_RecordActivityTaskHeartbeat`, `command_ScheduleActivityTask`), which sees what a
//! history cannot, heartbeats first. `temporal server start-dev` serves `/metrics` on a random
//! free port unless told one; the harness finds it among the server process's listening ports.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET /metrics` on 127.0.0.1:`port` over plain HTTP/1.0 (the body).
pub async fn scrape(port: u16) -> anyhow::Result<String> {
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(5), fetch).await??;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    anyhow::ensure!(head.starts_with("HTTP/1.") && head.split_whitespace().nth(1) == Some("200"), "no metrics on port {port}");
    Ok(body.to_owned())
}

/// The port among `candidates` that serves the server's metrics (the one with an `action`
/// counter).
pub async fn find_port(candidates: &[u16]) -> Option<u16> {
    for &port in candidates {
        if let Ok(body) = scrape(port).await
            && body.contains("# TYPE action counter")
        {
            return Some(port);
        }
    }
    None
}

/// The `action` counter of `namespace`, summed by `action_type`.
pub fn actions(metrics: &str, namespace: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("action{") else { continue };
        let Some((labels, value)) = rest.rsplit_once('}') else { continue };
        let Ok(value) = value.trim().parse::<f64>() else { continue };
        let label = |name: &str| {
            labels.split("\",").find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
            })
        };
        if label("namespace").as_deref() == Some(namespace) {
            *out.entry(label("action_type").unwrap_or_default()).or_insert(0.0) += value;
        }
    }
    out
}

/// Reads the `action` counter of `namespace` until two reads a second apart agree (the
/// server's counters may reach the exporter a moment late), at most five times.
pub async fn settled_actions(port: u16, namespace: &str) -> anyhow::Result<BTreeMap<String, f64>> {
    let mut last = actions(&scrape(port).await?, namespace);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = actions(&scrape(port).await?, namespace);
        if now == last {
            break;
        }
        last = now;
    }
    Ok(last)
}

/// `after - before` per action type (types that did not move left out).
pub fn difference(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(kind, value)| (kind.clone(), (value - before.get(kind).copied().unwrap_or(0.0)).round().max(0.0) as u64))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_action_counter() {
        let text = "# HELP action action counter\n# TYPE action counter\n\
            action{action_type=\"grpc_StartWorkflowExecution\",namespace=\"temporal_system\",operation=\"StartWorkflowExecution\",service_name=\"frontend\"} 2\n\
            action{action_type=\"grpc_StartWorkflowExecution\",namespace=\"default\",operation=\"StartWorkflowExecution\",service_name=\"frontend\"} 3\n\
            action{action_type=\"command_ScheduleActivityTask\",namespace=\"default\",operation=\"RespondWorkflowTaskCompleted\",service_name=\"history\"} 7\n\
            action{action_type=\"command_ScheduleActivityTask\",namespace=\"default\",operation=\"Other\",service_name=\"history\"} 1\n\
            actions_other{namespace=\"default\"} 9\n";
        let found = actions(text, "default");
        assert_eq!(found.len(), 2);
        assert_eq!(found["grpc_StartWorkflowExecution"], 3.0);
        assert_eq!(found["command_ScheduleActivityTask"], 8.0);
        let mut later = found.clone();
        later.insert("grpc_RecordActivityTaskHeartbeat".into(), 4.0);
        let moved = difference(&found, &later);
        assert_eq!(moved.into_iter().collect::<Vec<_>>(), vec![("grpc_RecordActivityTaskHeartbeat".to_owned(), 4)]);
    }
}
