"""One module per tab of the app, each with `create_demo(model)`."""
