"""Inbound webhooks (seed 004): ``POST /webhooks/{channel}`` verifies a provider's signature,
drops duplicate deliveries and queues the event on ``webhook-processing``, whose processor
forwards it, signed, to ``${APP_API_URL}/webhooks/{channel}``.

``channels`` reads the configuration, ``schemes`` checks signatures, ``ingest`` accepts a
request.
"""
