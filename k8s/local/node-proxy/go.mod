module labplatform.local/node-proxy

go 1.24
