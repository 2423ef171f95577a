"""The task module from the getting-started guide, run by ``docket worker --tasks tasks:tasks``."""


async def process_order(order_id: int) -> None:
    print(f"Processing order {order_id}")


async def send_notification(message: str) -> None:
    print(f"Notification: {message}")


tasks = [process_order, send_notification]
