use std::time::{Duration, Instant};
fn main() {
    let url = std::env::args().nth(1).unwrap();
    let n = 5000u32;
    let client = redis::Client::open(url.as_str()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let s = redis::Script::new("return 1");
        let _: i64 = s.invoke_async(&mut c).await.unwrap();
        let t = Instant::now();
        for _ in 0..n {
            let _: i64 = s.invoke_async(&mut c).await.unwrap();
        }
        println!("async trivial evalsha: {:?}/call", t.elapsed() / n);
        let keys: Vec<String> = [
            "config", "holders", "held", "line", "entries", "clients", "alive", "arrival",
        ]
        .iter()
        .map(|k| format!("prio-semaphore:{{scratch3}}:{k}"))
        .collect();
        let acq = redis::Script::new(&format!(
            "{}{}",
            include_str!("../src/lua/prelude.lua"),
            include_str!("../src/lua/acquire.lua")
        ));
        let rel = redis::Script::new(&format!(
            "{}{}",
            include_str!("../src/lua/prelude.lua"),
            include_str!("../src/lua/release.lua")
        ));
        let mut inv = acq.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        inv.arg("ch")
            .arg("client1")
            .arg(4)
            .arg(1000)
            .arg(1000)
            .arg("8000000000000000")
            .arg(1)
            .arg("fast")
            .arg(0);
        let _: redis::Value = inv.invoke_async(&mut c).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let t = Instant::now();
        for _ in 0..n {
            let mut inv = acq.prepare_invoke();
            for k in &keys {
                inv.key(k);
            }
            inv.arg("ch")
                .arg("client1")
                .arg(4)
                .arg(1000)
                .arg(1000)
                .arg("8000000000000000")
                .arg(1)
                .arg("fast")
                .arg(0);
            let v: redis::Value = inv.invoke_async(&mut c).await.unwrap();
            let member = match v {
                redis::Value::Array(ref a) => match &a[2] {
                    redis::Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
                    _ => panic!(),
                },
                _ => panic!("{v:?}"),
            };
            let mut inv = rel.prepare_invoke();
            for k in &keys {
                inv.key(k);
            }
            inv.arg("ch")
                .arg("client1")
                .arg(4)
                .arg(1000)
                .arg(1000)
                .arg(&member);
            let _: redis::Value = inv.invoke_async(&mut c).await.unwrap();
        }
        println!("raw scripts acquire+release: {:?}/pair", t.elapsed() / n);
        let sem = prio_semaphore_redis::RedisSemaphore::builder(url.as_str(), "scratch2", 4)
            .lease(Duration::from_secs(1))
            .connect()
            .await
            .unwrap();
        sem.acquire().await.unwrap().release().await.unwrap();
        let t = Instant::now();
        for _ in 0..n {
            sem.acquire().await.unwrap().release().await.unwrap();
        }
        println!("semaphore acquire+release: {:?}/pair", t.elapsed() / n);
    });
    let mut c = client.get_connection().unwrap();
    let s = redis::Script::new("return 1");
    let t = Instant::now();
    for _ in 0..n {
        let _: i64 = s.invoke(&mut c).unwrap();
    }
    println!("sync trivial evalsha: {:?}/call", t.elapsed() / n);
}
