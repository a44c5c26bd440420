"""Marshmallow schemas (request validation, OpenAPI) and HAL renderers."""
