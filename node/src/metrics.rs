//! Prometheus metrics (`GET /metrics`), through the Prometheus project's own `prometheus-client` crate.
//!
//! HTTP traffic is counted as it happens by [`track`], a middleware layer over every route. What the store and
//! the hub know (channels, payments by status, online users, collateral in flight) is read when the metrics are
//! scraped, so those gauges can never drift from the node's durable record. No label carries an address, an id or
//! a token: routes are labelled by their template (`/payments/{id}`), and a path no route matches is `unmatched`,
//! so a caller cannot grow the series without bound.

use std::{
    sync::{atomic::Ordering, Arc},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::{Registry, Unit},
};

use crate::store::{PaymentStatus, WriteCounts};

/// The media type of the OpenMetrics text format, which Prometheus asks for and parses.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 16 s: a store read answers in the first buckets, a proposal waiting on collateral in the last.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The node's metrics registry. Each [`crate::api::AppState`] has its own, so nothing is process-global.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    channels: Gauge,
    payments: Family<StatusLabels, Gauge>,
    online_users: Gauge,
    collateral_in_flight: Gauge,
    store_batches: Counter,
    store_transactions: Counter,
}

/// What the store and the hub report at a scrape.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub channels: u64,
    /// Payments by status, in [`PaymentStatus::ALL`] order.
    pub payments: Vec<(PaymentStatus, u64)>,
    pub online_users: u64,
    pub collateral_in_flight: u64,
    pub store_writes: WriteCounts,
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("spoke");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template and status code",
            requests.clone(),
        );
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its response, by route template",
            Unit::Seconds,
            latency.clone(),
        );
        let channels = Gauge::default();
        registry.register(
            "channels",
            "Channels the node has set up (the newest epoch of each user)",
            channels.clone(),
        );
        let payments = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "payments",
            "Payments routed through the node, by the status they are in now",
            payments.clone(),
        );
        let online_users = Gauge::default();
        registry.register(
            "online_users",
            "Users with a live WebSocket connection",
            online_users.clone(),
        );
        let collateral_in_flight = Gauge::default();
        registry.register(
            "collateral_in_flight",
            "Collateral deposits of the node sent and not yet counted in their channel",
            collateral_in_flight.clone(),
        );
        let store_batches = Counter::default();
        registry.register(
            "store_batches",
            "Batches of writes the store committed: a user's update with everything it sets in motion is one",
            store_batches.clone(),
        );
        let store_transactions = Counter::default();
        registry.register(
            "store_transactions",
            "Database transactions that made those batches durable; a group commit takes several batches",
            store_transactions.clone(),
        );
        Metrics {
            registry,
            store_batches,
            store_transactions,
            requests,
            latency,
            channels,
            payments,
            online_users,
            collateral_in_flight,
        }
    }

    /// Counts one answered request.
    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// The OpenMetrics text of every metric, with the gauges set from `snapshot`.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        self.channels.set(gauge_value(snapshot.channels));
        for (status, count) in &snapshot.payments {
            self.payments
                .get_or_create(&StatusLabels {
                    status: status.as_str(),
                })
                .set(gauge_value(*count));
        }
        self.online_users.set(gauge_value(snapshot.online_users));
        self.collateral_in_flight
            .set(gauge_value(snapshot.collateral_in_flight));
        // The store counts its commits itself (the writer thread has no handle on the metrics); the counters show
        // its totals.
        let writes = snapshot.store_writes;
        self.store_batches
            .inner()
            .store(writes.batches, Ordering::Relaxed);
        self.store_transactions
            .inner()
            .store(writes.transactions, Ordering::Relaxed);
        let mut text = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug in a metric's label type, and a
        // partial page is still better for the operator than none.
        if let Err(e) = encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "encoding the metrics failed");
        }
        text
    }
}

/// The middleware that counts every request and times it, by the template of the route it matched.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let response = next.run(request).await;
    metrics.observe(
        route.as_deref().unwrap_or("unmatched"),
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}
