-- wrk: a controller's hourly call, back to back (see bench-http.sh).
wrk.method = "POST"
wrk.body = ""
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CONTROLLER")
